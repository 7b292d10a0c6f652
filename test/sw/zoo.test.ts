import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { buildForwardGraph, getModel, listModels, parameterCount, parameterTensors, trainingHeadRows } from '../../src/sw/index.js';

/** Published parameter counts (the papers' own rounding). */
const PUBLISHED: Record<string, number> = {
  'bert-base': 110e6,
  'bert-large': 340e6,
  'gpt2-xl': 1.5e9,
  'mega-gpt2-8.3b': 8.3e9,
  't-nlg-17b': 17e9,
  'gpt3-175b': 175e9,
  'palm-540b': 540e9,
  'mt-nlg-530b': 530e9,
  'llama2-7b': 6.74e9,
  'llama2-70b': 69e9,
  'llama3-8b': 8.03e9,
  'llama3.1-70b': 70.6e9,
  'llama3.1-405b': 405.9e9,
  'mixtral-8x7b': 46.7e9,
};

describe('model zoo', () => {
  it('has every model of the issue, each with a source', () => {
    expect(listModels().sort()).toEqual(Object.keys(PUBLISHED).sort());
    for (const n of listModels()) expect(getModel(n).source.length).toBeGreaterThan(20);
  });

  it('parameter counts match the published sizes within 4%', () => {
    for (const [name, published] of Object.entries(PUBLISHED)) {
      expect(Math.abs(parameterCount(getModel(name)) / published - 1), name).toBeLessThan(0.04);
    }
  });

  it('the graph of one rank owns exactly the model parameters (tp = 1)', () => {
    for (const name of ['bert-large', 'gpt2-xl', 'llama2-70b', 'mixtral-8x7b', 'palm-540b']) {
      const m = getModel(name);
      const g = buildForwardGraph(m, { tp: 1, training: true, actBytes: 2, kvCacheBytes: 0, groups: [{ count: 1, qLen: 64, kvLen: 64 }], pagedKvLens: [], flash: true, positionRows: 64, headRows: trainingHeadRows(m, 1, 64) });
      const byName = new Map(g.params.map((p) => [p.name, p.numel]));
      const expected = new Map(parameterTensors(m).map((p) => [p.name, p.numel]));
      expect(new Map([...byName].sort()), name).toEqual(new Map([...expected].sort()));
    }
  });

  it('unknown names give a one-line error listing the valid ones', () => {
    expect(() => getModel('bert-huge')).toThrow(SilicaError);
    expect(() => getModel('bert-huge')).toThrow(/unknown model "bert-huge" \(expected one of bert-base, bert-large, .*mixtral-8x7b\)/);
  });
});
