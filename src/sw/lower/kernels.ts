import { SilicaError } from '../../core/errors.js';
import { DTYPE_BYTES, type Dtype } from '../../hw/config/schema.js';
import { attendedPairs } from '../../kernels/attention.js';
import type { KernelDesc } from '../../kernels/desc.js';
import type { OpCategory } from '../../kernels/types.js';
import type { TraceCollectiveKind } from '../../trace/types.js';
import type { Op, PointwiseFn, PointwiseOp } from '../graph/ops.js';

/**
 * Lowering: each op of the graph to the kernels (and collectives) that run it, in forward and in
 * backward. Kernels are hardware-independent descriptions (src/kernels/desc.ts); their cost is
 * decided at replay. Backward of a GEMM is its data-gradient and weight-gradient GEMMs, each with
 * the forward's FLOPs, so backward GEMM FLOPs are exactly twice forward by construction.
 */
export interface LoweredNode {
  name: string;
  kind: 'kernel' | 'collective';
  category: OpCategory;
  kernel?: KernelDesc;
  collective?: { kind: TraceCollectiveKind; bytes: number; group: 'tp' | 'dp' };
  /** Parameter gradients this node writes. */
  grads?: GradWrite[];
}

/** A parameter whose gradient a node writes, and how much of it. */
export interface GradWrite {
  param: string;
  /**
   * Elements written, where the node writes only part of the parameter (a linear's weight, its
   * bias added by a separate kernel); default all. Gradient accumulation adds this many.
   */
  elements?: number;
}

export interface LowerContext {
  /** Activation and GEMM-input dtype. */
  dtype: Dtype;
  /** Dtype the weight-gradient GEMMs write (the model's gradient dtype). */
  gradDtype: Dtype;
  /** KV-cache dtype (decode attention reads it). */
  kvDtype: Dtype;
}

/**
 * Element-wise functions, from first principles: tensors read besides the running one, vector
 * FLOPs per element, and what backward needs. GeLU is the tanh form (cube, two multiply-adds,
 * tanh ~4, the final products: ~12 FLOPs); SwiGLU's SiLU is x/(1+e^-x) (~4) times the up
 * projection; dropout draws a Philox number, compares and scales (~4) and writes a 1-byte mask;
 * RoPE rotates pairs (2 multiplies + 1 add per element).
 */
const FN: Record<PointwiseFn, { extraInputs: number; flops: number; maskBytes: number; bwdSaved: number; bwdOutputs: number; bwdFlops: number }> = {
  bias: { extraInputs: 0, flops: 1, maskBytes: 0, bwdSaved: 0, bwdOutputs: 0, bwdFlops: 1 },
  gelu: { extraInputs: 0, flops: 12, maskBytes: 0, bwdSaved: 1, bwdOutputs: 1, bwdFlops: 24 },
  swiglu: { extraInputs: 1, flops: 5, maskBytes: 0, bwdSaved: 2, bwdOutputs: 2, bwdFlops: 10 },
  dropout: { extraInputs: 0, flops: 4, maskBytes: 1, bwdSaved: 0, bwdOutputs: 1, bwdFlops: 1 },
  residual: { extraInputs: 1, flops: 1, maskBytes: 0, bwdSaved: 1, bwdOutputs: 1, bwdFlops: 1 },
  rope: { extraInputs: 0, flops: 3, maskBytes: 0, bwdSaved: 0, bwdOutputs: 1, bwdFlops: 3 },
};

export function gemm(name: string, m: number, n: number, k: number, dtype: Dtype, category: OpCategory = 'gemm', batch = 1, outDtype: Dtype = dtype): LoweredNode {
  const kernel: KernelDesc = { op: 'gemm', name, m, n, k, dtype, outDtype, category, ...(batch > 1 ? { batch } : {}) };
  return { name, kind: 'kernel', category, kernel };
}

function elementwise(name: string, category: OpCategory, elements: number, inputs: number, outputs: number, flopsPerElement: number, dtype: Dtype, extraReadBytes = 0, extraWriteBytes = 0, grads?: GradWrite[]): LoweredNode {
  const kernel: KernelDesc = {
    op: 'elementwise', name, elements, inputs, outputs, flopsPerElement, dtype, category,
    ...(extraReadBytes ? { extraReadBytes } : {}),
    ...(extraWriteBytes ? { extraWriteBytes } : {}),
  };
  return { name, kind: 'kernel', category, kernel, ...(grads && grads.length ? { grads } : {}) };
}

function allReduce(name: string, bytes: number): LoweredNode {
  return tpCollective(name, 'all-reduce', bytes);
}

function tpCollective(name: string, kind: 'all-reduce' | 'reduce-scatter' | 'all-gather', bytes: number): LoweredNode {
  return { name, kind: 'collective', category: 'communication', collective: { kind, bytes, group: 'tp' } };
}

export function lowerForward(op: Op, c: LowerContext): LoweredNode[] {
  const b = DTYPE_BYTES[c.dtype];
  switch (op.kind) {
    case 'linear':
      return [gemm(op.name, op.tokens, op.outFeatures, op.inFeatures, c.dtype)];
    case 'bmm':
      return op.role === 'qk'
        ? [gemm(op.name, op.qLen, op.kvLen, op.headDim, c.dtype, 'attention', op.batch)]
        : [gemm(op.name, op.qLen, op.headDim, op.kvLen, c.dtype, 'attention', op.batch)];
    case 'softmax':
      return [{ name: op.name, kind: 'kernel', category: 'softmax', kernel: { op: 'reduction', name: op.name, kind: 'softmax', rows: op.rows, cols: op.cols, dtype: c.dtype } }];
    case 'flash':
      return op.groups.map((g, i) => ({
        name: op.groups.length > 1 ? `${op.name}.g${i}` : op.name,
        kind: 'kernel' as const,
        category: 'attention' as const,
        kernel: { op: 'attention' as const, name: op.name, batch: g.count, heads: op.heads, kvHeads: op.kvHeads, qLen: g.qLen, kvLen: g.kvLen, headDim: op.headDim, causal: op.causal, dtype: c.dtype },
      }));
    case 'paged-attention':
      return [pagedAttention(op, c)];
    case 'norm':
      return [{ name: op.name, kind: 'kernel', category: 'layernorm', kernel: { op: 'reduction', name: op.name, kind: op.norm, rows: op.rows, cols: op.cols, dtype: c.dtype } }];
    case 'pointwise': {
      const fns = op.fns.map((f) => FN[f]);
      const elements = op.rows * op.cols;
      const inputs = 1 + fns.reduce((s, f) => s + f.extraInputs, 0);
      const flops = fns.reduce((s, f) => s + f.flops, 0);
      const biasBytes = op.fns.includes('bias') ? op.cols * b : 0;
      const maskBytes = elements * fns.reduce((s, f) => s + f.maskBytes, 0);
      return [elementwise(op.name, 'elementwise', elements, inputs, 1, flops, c.dtype, biasBytes, maskBytes)];
    }
    case 'embedding':
      return [elementwise(op.name, 'elementwise', op.tokens * op.hidden, 1 + op.extraParams.length, 1, op.extraParams.length, c.dtype)];
    case 'tp-comm':
      if (op.sequenceParallel) return [tpCollective(op.name, op.mode === 'g' ? 'reduce-scatter' : 'all-gather', op.bytes)];
      return op.mode === 'g' ? [allReduce(op.name, op.bytes)] : [];
    case 'copy':
      return [{ name: op.name, kind: 'kernel', category: 'memcpy', kernel: { op: 'memcpy', name: op.name, bytes: op.bytes, category: 'memcpy' } }];
    case 'combine':
      return [elementwise(op.name, 'elementwise', op.tokens * op.hidden, op.topK, 1, 2 * op.topK, c.dtype, op.tokens * op.topK * 4)];
    case 'xent':
      return [{ name: op.name, kind: 'kernel', category: 'softmax', kernel: { op: 'reduction', name: op.name, kind: 'softmax', rows: op.rows, cols: op.cols, dtype: c.dtype } }];
  }
}

export function lowerBackward(op: Op, c: LowerContext): LoweredNode[] {
  const gb = DTYPE_BYTES[c.gradDtype];
  switch (op.kind) {
    case 'linear': {
      // The weight's gradient, and the bias's where the GEMM's epilogue adds the bias (else the
      // bias's own kernel writes its gradient).
      const weight = op.inFeatures * op.outFeatures;
      const grads: GradWrite[] = [op.biasEpilogue && !op.biasParam ? { param: op.param } : { param: op.param, elements: weight }, ...(op.biasParam ? [{ param: op.biasParam }] : [])];
      return [
        gemm(`${op.name}.dgrad`, op.tokens, op.inFeatures, op.outFeatures, c.dtype),
        { ...gemm(`${op.name}.wgrad`, op.inFeatures, op.outFeatures, op.tokens, c.dtype, 'gemm', 1, c.gradDtype), grads },
      ];
    }
    case 'bmm':
      // S = Q K^T: dQ = dS K, dK = dS^T Q.  O = P V: dP = dO V^T, dV = P^T dO.
      return op.role === 'qk'
        ? [gemm(`${op.name}.dq`, op.qLen, op.headDim, op.kvLen, c.dtype, 'attention', op.batch), gemm(`${op.name}.dk`, op.kvLen, op.headDim, op.qLen, c.dtype, 'attention', op.batch)]
        : [gemm(`${op.name}.dp`, op.qLen, op.kvLen, op.headDim, c.dtype, 'attention', op.batch), gemm(`${op.name}.dv`, op.kvLen, op.headDim, op.qLen, c.dtype, 'attention', op.batch)];
    case 'softmax':
      return [{ name: `${op.name}.bwd`, kind: 'kernel', category: 'softmax', kernel: { op: 'reduction', name: `${op.name}.bwd`, kind: 'softmax', rows: op.rows, cols: op.cols, dtype: c.dtype, backward: true } }];
    case 'flash':
      return op.groups.map((g, i) => ({
        name: `${op.groups.length > 1 ? `${op.name}.g${i}` : op.name}.bwd`,
        kind: 'kernel' as const,
        category: 'attention' as const,
        kernel: { op: 'attention' as const, name: `${op.name}.bwd`, batch: g.count, heads: op.heads, kvHeads: op.kvHeads, qLen: g.qLen, kvLen: g.kvLen, headDim: op.headDim, causal: op.causal, dtype: c.dtype, backward: true },
      }));
    case 'paged-attention':
      throw new SilicaError(`${op.name}: paged decode attention has no backward (inference only)`);
    case 'norm':
      return [{ name: `${op.name}.bwd`, kind: 'kernel', category: 'layernorm', kernel: { op: 'reduction', name: `${op.name}.bwd`, kind: op.norm, rows: op.rows, cols: op.cols, dtype: c.dtype, backward: true }, grads: [{ param: op.param }] }];
    case 'pointwise':
      return pointwiseBackward(op, c);
    case 'embedding': {
      const elements = op.tokens * op.hidden;
      // Dense embedding gradient: zero the (sharded) table's gradient, then scatter-add the token rows.
      const nodes = [elementwise(`${op.name}.word.bwd`, 'elementwise', elements, 1, 1, 1, c.dtype, 0, op.vocabRows * op.hidden * gb, [{ param: op.param }])];
      if (op.extraParams.length) nodes.push(elementwise(`${op.name}.pos_type.bwd`, 'elementwise', elements, 1, 0, op.extraParams.length, c.dtype, 0, op.positionRows * op.hidden * gb, op.extraParams.map((param) => ({ param }))));
      return nodes;
    }
    case 'tp-comm':
      if (op.sequenceParallel) return [tpCollective(`${op.name}.bwd`, op.mode === 'f' ? 'reduce-scatter' : 'all-gather', op.bytes)];
      return op.mode === 'f' ? [allReduce(`${op.name}.bwd`, op.bytes)] : [];
    case 'copy':
      return op.bwdBytes > 0 ? [{ name: `${op.name}.bwd`, kind: 'kernel', category: 'memcpy', kernel: { op: 'memcpy', name: `${op.name}.bwd`, bytes: op.bwdBytes, category: 'memcpy' } }] : [];
    case 'combine':
      return [elementwise(`${op.name}.bwd`, 'elementwise', op.tokens * op.hidden, 1 + op.topK, op.topK, 2 * op.topK, c.dtype, 0, op.tokens * op.topK * 4)];
    case 'xent':
      // d(logits) = softmax - one-hot: read the saved probabilities, write the gradient.
      return [elementwise(`${op.name}.bwd`, 'softmax', op.rows * op.cols, 1, 1, 2, c.dtype)];
  }
}

function pointwiseBackward(op: PointwiseOp, c: LowerContext): LoweredNode[] {
  const gb = DTYPE_BYTES[c.gradDtype];
  const elements = op.rows * op.cols;
  const biasGrad = op.fns.includes('bias') ? op.cols * gb : 0;
  // A bias shares its parameter with the GEMM before it: this kernel writes only the bias's part.
  const grads = op.param && op.fns.includes('bias') ? [{ param: op.param, elements: op.cols }] : undefined;
  if (op.fns.length > 1) {
    const fns = op.fns.map((f) => FN[f]);
    const inputs = 1 + fns.reduce((s, f) => s + f.bwdSaved, 0);
    const outputs = op.fns.includes('swiglu') ? 2 : 1;
    const flops = fns.reduce((s, f) => s + f.bwdFlops, 0);
    const maskBytes = elements * fns.reduce((s, f) => s + f.maskBytes, 0);
    return [elementwise(`${op.name}.bwd`, 'elementwise', elements, inputs, outputs, flops, c.dtype, maskBytes, biasGrad, grads)];
  }
  const fn = op.fns[0]!;
  const f = FN[fn];
  if (fn === 'bias') return [elementwise(`${op.name}.bwd`, 'elementwise', elements, 1, 0, f.bwdFlops, c.dtype, 0, biasGrad, grads)];
  return [elementwise(`${op.name}.bwd`, 'elementwise', elements, 1 + f.bwdSaved, f.bwdOutputs, f.bwdFlops, c.dtype, elements * f.maskBytes)];
}

/** Decode attention over requests of different context lengths, costed as one roofline kernel. */
function pagedAttention(op: Extract<Op, { kind: 'paged-attention' }>, c: LowerContext): LoweredNode {
  const b = DTYPE_BYTES[c.dtype];
  const kvb = DTYPE_BYTES[c.kvDtype];
  let pairs = 0;
  let kvBytes = 0;
  for (const kv of op.kvLens) {
    pairs += attendedPairs(1, kv, true);
    kvBytes += 2 * kv * op.kvHeads * op.headDim * kvb;
  }
  const requests = op.kvLens.length;
  const qoBytes = requests * op.heads * op.headDim * b;
  const matrixFlops = 4 * pairs * op.heads * op.headDim;
  return {
    name: op.name,
    kind: 'kernel',
    category: 'attention',
    kernel: { op: 'generic', name: op.name, flops: matrixFlops, bytesRead: kvBytes + qoBytes, bytesWritten: qoBytes, dtype: c.dtype, category: 'attention', matrix: true },
  };
}

/** Matrix (GEMM and attention-product) FLOPs of a kernel description, hardware-independent. */
export function matmulFlops(k: KernelDesc): number {
  switch (k.op) {
    case 'gemm':
      return 2 * k.m * k.n * k.k * (k.batch ?? 1);
    case 'attention':
      // QK^T and PV over the attended pairs; backward recomputes QK^T and runs four products: 2.5x.
      return 4 * attendedPairs(k.qLen, k.kvLen, k.causal) * k.batch * k.heads * k.headDim * (k.backward ? 2.5 : 1);
    case 'generic':
      return k.matrix ? k.flops : 0;
    default:
      return 0;
  }
}
