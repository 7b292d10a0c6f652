/**
 * A transformer's architecture, as far as it shapes kernels. Widths are per model (unsharded);
 * tensor parallelism divides them in the graph builder.
 */
export interface ModelSpec {
  name: string;
  layers: number;
  /** Model (residual stream) width. */
  hidden: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads: = heads for multi-head, < heads for grouped-query, 1 for multi-query. */
  kvHeads: number;
  headDim: number;
  /** FFN inner width (per expert for MoE). SwiGLU FFNs have three matrices of hidden x ffnHidden. */
  ffnHidden: number;
  ffnKind: 'gelu' | 'swiglu';
  vocab: number;
  maxSeq: number;
  norm: 'layernorm' | 'rmsnorm';
  /** Post-LN (BERT: norm after each residual add, plus one after the embeddings) or pre-LN (+ final norm). */
  normPlacement?: 'pre' | 'post';
  /** Learned absolute position embeddings (BERT, GPT) or rotary (applied inside attention, no table). */
  positional?: 'learned' | 'rope';
  /** Linear layers and norms carry biases. */
  bias?: boolean;
  /** Attention and FFN read the same normed input and add to the residual together (PaLM, GPT-J). */
  parallelBlock?: boolean;
  /** Mixture of experts: experts per layer and experts each token is routed to. */
  experts?: number;
  expertsPerToken?: number;
  causal: boolean;
  /** Training objective: masked LM (BERT: head on the masked positions only) or causal LM (every token). */
  objective?: 'mlm' | 'clm';
  /** Dropout probability in training (0 = no dropout kernels). */
  dropout?: number;
  /** Token-type (segment) embedding rows (BERT: 2). */
  tokenTypes?: number;
  /** Output projection shares the input embedding matrix. */
  tiedEmbeddings?: boolean;
  /** Where the dimensions come from. */
  source: string;
}

/** Fraction of positions BERT masks and predicts (Devlin et al. 2019, §3.1). */
export const MLM_MASKED_FRACTION = 0.15;

/** Positions per sequence the MLM head runs on (BERT pads predictions to this count). */
export function mlmPredictionsPerSeq(seq: number): number {
  return Math.ceil(MLM_MASKED_FRACTION * seq);
}
