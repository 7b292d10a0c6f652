import { List } from 'immutable';

/**
 * The op graph: what a model computes, per rank, before any choice of kernels. Ops are plain
 * readonly values in an immutable List in execution (topological) order: the forward pass is a
 * chain through the residual stream, so order is the dependency structure, and graph passes
 * (fusion, recomputation, micro-batch replication) return new Lists that share the untouched ops.
 *
 * Widths are already sharded for tensor parallelism (a rank's slice); `tokens` counts the rows of
 * the activations this rank processes in one micro-batch.
 */

/** Element-wise functions that can be fused into one kernel (Megatron's bias-GeLU, bias-dropout-add). */
export type PointwiseFn = 'bias' | 'gelu' | 'swiglu' | 'dropout' | 'residual' | 'rope';

interface OpBase {
  /** Unique name, e.g. "l3.ffn.fc1". */
  readonly name: string;
  /** Transformer layer (-1 embeddings, layers = head). */
  readonly layer: number;
}

/** Y[tokens, out] = X[tokens, in] W[in, out]; W is `param`. */
export interface LinearOp extends OpBase {
  readonly kind: 'linear';
  readonly tokens: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly param: string;
  /** Megatron role: column-parallel (output sharded), row-parallel (input sharded), or replicated. */
  readonly parallel: 'column' | 'row' | 'replicated';
  /** Bias added in the GEMM epilogue (set by the fusion pass for a lone bias). */
  readonly biasEpilogue?: boolean;
  /** Parameter owning the epilogue bias (its gradient comes out of the weight-gradient GEMM's epilogue). */
  readonly biasParam?: string;
}

/** Unfused attention's batched products: QK^T (scores) or PV (context), batch = sequences x heads. */
export interface BmmOp extends OpBase {
  readonly kind: 'bmm';
  readonly role: 'qk' | 'pv';
  readonly batch: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly headDim: number;
}

/** Scale + mask + softmax over attention scores (one fused kernel, as Megatron's scaled_masked_softmax). */
export interface SoftmaxOp extends OpBase {
  readonly kind: 'softmax';
  readonly rows: number;
  readonly cols: number;
  /** Set on the attention scores' softmax (core attention: what selective recomputation redoes). */
  readonly region?: 'attention';
}

/** Fused (flash) attention over groups of identical sequences. */
export interface FlashOp extends OpBase {
  readonly kind: 'flash';
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly causal: boolean;
  readonly groups: ReadonlyArray<{ count: number; qLen: number; kvLen: number }>;
}

export interface NormOp extends OpBase {
  readonly kind: 'norm';
  readonly norm: 'layernorm' | 'rmsnorm';
  readonly rows: number;
  readonly cols: number;
  readonly param: string;
}

/** A chain of element-wise functions over `rows x cols` output elements (one kernel). */
export interface PointwiseOp extends OpBase {
  readonly kind: 'pointwise';
  readonly fns: readonly PointwiseFn[];
  readonly rows: number;
  readonly cols: number;
  /** Parameter owning the bias, when fns include 'bias'. */
  readonly param?: string;
  /** Attention-probability dropout etc.: category override for breakdowns. */
  readonly region?: 'attention';
}

/** Token (+ position, + type) embedding lookup and sum; the rank holds `vocabRows` of the table. */
export interface EmbeddingOp extends OpBase {
  readonly kind: 'embedding';
  readonly tokens: number;
  readonly hidden: number;
  readonly vocabRows: number;
  /** Extra tables summed in (learned positions, token types), by parameter name. */
  readonly extraParams: readonly string[];
  /** Rows of the position table touched (seq), for its gradient. */
  readonly positionRows: number;
  readonly param: string;
}

/**
 * Megatron's conjugate tensor-parallel operators: `g` all-reduces in forward (after a row-parallel
 * layer) and is the identity in backward; `f` is the identity in forward and all-reduces the input
 * gradient in backward (before a column-parallel layer).
 */
export interface TpCommOp extends OpBase {
  readonly kind: 'tp-comm';
  readonly mode: 'f' | 'g';
  readonly bytes: number;
  /**
   * Megatron's sequence parallelism: outside the tensor-parallel regions each rank holds 1/tp of
   * the tokens, so `g` reduce-scatters (backward: all-gathers) and `f` all-gathers (backward:
   * reduce-scatters) instead of all-reducing once. `bytes` is the whole tensor either way.
   */
  readonly sequenceParallel?: boolean;
  /** Fused into this op when the all-reduce carries something other than activations (e.g. loss statistics). */
  readonly what?: string;
}

/** A copy of `bytes` (token permutation for MoE, gathering masked positions, KV-cache writes). */
export interface CopyOp extends OpBase {
  readonly kind: 'copy';
  readonly bytes: number;
  /** Backward copies `bwdBytes` (0 = nothing to do in backward, e.g. KV-cache writes). */
  readonly bwdBytes: number;
}

/** MoE combine: weighted sum of each token's k expert outputs. */
export interface CombineOp extends OpBase {
  readonly kind: 'combine';
  readonly tokens: number;
  readonly hidden: number;
  readonly topK: number;
}

/** Softmax cross-entropy over the vocabulary (this rank's slice). */
export interface XentOp extends OpBase {
  readonly kind: 'xent';
  readonly rows: number;
  readonly cols: number;
}

/** Decode attention over requests with different context lengths (one paged-attention launch). */
export interface PagedAttentionOp extends OpBase {
  readonly kind: 'paged-attention';
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Keys each request attends (its context plus the new token). */
  readonly kvLens: readonly number[];
}

export type Op = LinearOp | BmmOp | SoftmaxOp | FlashOp | NormOp | PointwiseOp | EmbeddingOp | TpCommOp | CopyOp | CombineOp | XentOp | PagedAttentionOp;
export type OpKind = Op['kind'];

/** A rank's op graph for one micro-batch plus the parameters it owns. */
export interface OpGraph {
  readonly ops: List<Op>;
  /** This rank's parameter tensors in forward order (sharded sizes). */
  readonly params: List<ParamTensor>;
}

export interface ParamTensor {
  readonly name: string;
  readonly numel: number;
  readonly layer: number;
  /**
   * Framework tensors of this parameter that tensor parallelism splits over the ranks (with tp > 1):
   * a column-parallel weight and its bias 2, a row-parallel weight 1 (its bias is added after the
   * all-reduce, whole on every rank), the vocabulary-parallel embedding or output layer 1, norms and
   * replicated layers 0. A norm of a split tensor is a sum over the ranks (the LAMB trust ratio's).
   */
  readonly tpSplitTensors: number;
  /**
   * Elements whose gradient each rank computes from its 1/tp of the tokens under sequence
   * parallelism (the norms and row-parallel biases between the tensor-parallel regions), 0
   * without it: partial sums until the TP group all-reduces them after backward.
   */
  readonly sequenceSplitGradNumel: number;
}
