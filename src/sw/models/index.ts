import { SilicaError } from '../../core/errors.js';
import type { ModelSpec } from './spec.js';
import { ZOO } from './zoo.js';

export { type ModelSpec, MLM_MASKED_FRACTION, mlmPredictionsPerSeq } from './spec.js';

const BY_NAME = new Map(ZOO.map((m) => [m.name, m]));

export function listModels(): string[] {
  return ZOO.map((m) => m.name);
}

export function getModel(name: string): ModelSpec {
  const m = BY_NAME.get(name);
  if (!m) throw new SilicaError(`--model: unknown model "${name}" (expected one of ${listModels().join(', ')})`);
  return m;
}

/** Widths derived from a spec: query/key-value projection widths and the FFN's first GEMM width. */
export function modelWidths(m: ModelSpec): { qWidth: number; kvWidth: number; ffnInWidth: number } {
  return {
    qWidth: m.heads * m.headDim,
    kvWidth: m.kvHeads * m.headDim,
    ffnInWidth: m.ffnKind === 'swiglu' ? 2 * m.ffnHidden : m.ffnHidden,
  };
}

/** Parameters in one transformer layer's weight matrices (no biases, no norms): the ones GEMMs multiply by. */
export function layerMatmulParams(m: ModelSpec): { attention: number; ffnPerExpert: number; router: number } {
  const { qWidth, kvWidth, ffnInWidth } = modelWidths(m);
  return {
    attention: m.hidden * (qWidth + 2 * kvWidth) + qWidth * m.hidden,
    ffnPerExpert: m.hidden * ffnInWidth + m.ffnHidden * m.hidden,
    router: m.experts ? m.hidden * m.experts : 0,
  };
}

/** Parameter tensors of the model, unsharded, in forward order. */
export function parameterTensors(m: ModelSpec): Array<{ name: string; numel: number; layer: number }> {
  const h = m.hidden;
  const { qWidth, kvWidth, ffnInWidth } = modelWidths(m);
  const bias = m.bias ?? false;
  const normNumel = m.norm === 'layernorm' && bias ? 2 * h : h;
  const out: Array<{ name: string; numel: number; layer: number }> = [];
  const add = (name: string, numel: number, layer: number) => out.push({ name, numel, layer });
  add('embed.word', m.vocab * h, -1);
  if ((m.positional ?? 'learned') === 'learned') add('embed.position', m.maxSeq * h, -1);
  if (m.tokenTypes) add('embed.type', m.tokenTypes * h, -1);
  if (m.normPlacement === 'post') add('embed.norm', normNumel, -1);
  const experts = m.experts ?? 1;
  for (let l = 0; l < m.layers; l++) {
    add(`l${l}.attn.qkv`, h * (qWidth + 2 * kvWidth) + (bias ? qWidth + 2 * kvWidth : 0), l);
    add(`l${l}.attn.out`, qWidth * h + (bias ? h : 0), l);
    add(`l${l}.norm1`, normNumel, l);
    if (!m.parallelBlock) add(`l${l}.norm2`, normNumel, l);
    if (m.experts) add(`l${l}.moe.router`, h * m.experts, l);
    for (let e = 0; e < experts; e++) {
      const p = m.experts ? `l${l}.moe.e${e}` : `l${l}.ffn`;
      add(`${p}.fc1`, h * ffnInWidth + (bias ? ffnInWidth : 0), l);
      add(`${p}.fc2`, m.ffnHidden * h + (bias ? h : 0), l);
    }
  }
  if (m.normPlacement !== 'post') add('final.norm', normNumel, m.layers);
  if (m.objective === 'mlm') {
    add('head.transform', h * h + (bias ? h : 0), m.layers);
    add('head.norm', normNumel, m.layers);
    if (bias) add('head.bias', m.vocab, m.layers);
  }
  if (!m.tiedEmbeddings) add('head.out', h * m.vocab, m.layers);
  return out;
}

/** Total parameters (embeddings, layers, norms, biases, head; BERT's pooler/NSP head excluded). */
export function parameterCount(m: ModelSpec): number {
  return parameterTensors(m).reduce((s, p) => s + p.numel, 0);
}
