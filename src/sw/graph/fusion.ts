import { List } from 'immutable';
import type { Op, OpGraph, PointwiseOp } from './ops.js';

/**
 * Fused bias + activation (Megatron's bias-GeLU and bias-dropout-add, the fused kernels BERT
 * implementations use): runs of adjacent element-wise ops over the same tensor become one kernel,
 * so the intermediate tensors never reach DRAM; a bias left alone after a GEMM moves into the
 * GEMM's epilogue. Returns a new graph; ops it does not touch are shared with the input.
 */
export function fuseBiasActivation(graph: OpGraph): OpGraph {
  const out: Op[] = [];
  let run: PointwiseOp[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const first = run[0]!;
    const prev = out[out.length - 1];
    if (run.length === 1 && first.fns.length === 1 && first.fns[0] === 'bias' && prev?.kind === 'linear' && prev.outFeatures === first.cols && prev.tokens === first.rows) {
      out[out.length - 1] = { ...prev, biasEpilogue: true, ...(first.param && first.param !== prev.param ? { biasParam: first.param } : {}) };
    } else if (run.length === 1) {
      out.push(first);
    } else {
      const fns = run.flatMap((op) => op.fns);
      const base = first.name.slice(0, first.name.lastIndexOf('.'));
      const param = run.find((op) => op.param)?.param;
      out.push({ kind: 'pointwise', name: `${base}.${fns.join('_')}`, layer: first.layer, fns, rows: first.rows, cols: first.cols, ...(param ? { param } : {}), ...(first.region ? { region: first.region } : {}) });
    }
    run = [];
  };
  for (const op of graph.ops) {
    const prev = run[run.length - 1];
    if (op.kind === 'pointwise' && !op.region && (!prev || (prev.rows === op.rows && prev.cols === op.cols && prev.layer === op.layer))) {
      run.push(op);
      continue;
    }
    flush();
    if (op.kind === 'pointwise' && !op.region) run.push(op);
    else out.push(op);
  }
  flush();
  return { ops: List(out), params: graph.params };
}
