import type { ModelSpec } from './spec.js';

/**
 * The model zoo: published dimensions, each with its source. Only what shapes the kernels is
 * recorded (layer count, widths, heads, FFN kind and width, vocabulary, norms, positional scheme,
 * biases, dropout); tokenizer details and training recipes are not.
 *
 * Vocabularies are the sizes the reference implementations allocate (Megatron pads GPT-2's 50,257
 * to 51,200 for the models it trained; OpenAI's GPT-2/3 keep 50,257).
 */
const BERT_COMMON = {
  ffnKind: 'gelu',
  vocab: 30522,
  maxSeq: 512,
  norm: 'layernorm',
  normPlacement: 'post',
  positional: 'learned',
  bias: true,
  causal: false,
  objective: 'mlm',
  dropout: 0.1,
  tokenTypes: 2,
  tiedEmbeddings: true,
} as const;

const GPT_COMMON = {
  ffnKind: 'gelu',
  norm: 'layernorm',
  normPlacement: 'pre',
  positional: 'learned',
  bias: true,
  causal: true,
  objective: 'clm',
  dropout: 0.1,
  tiedEmbeddings: true,
} as const;

const LLAMA_COMMON = {
  ffnKind: 'swiglu',
  norm: 'rmsnorm',
  normPlacement: 'pre',
  positional: 'rope',
  bias: false,
  causal: true,
  objective: 'clm',
  dropout: 0,
  tiedEmbeddings: false,
} as const;

export const ZOO: readonly ModelSpec[] = [
  {
    ...BERT_COMMON,
    name: 'bert-base',
    layers: 12, hidden: 768, heads: 12, kvHeads: 12, headDim: 64, ffnHidden: 3072,
    source: 'Devlin et al., "BERT", NAACL 2019, §3 (L=12, H=768, A=12, 110M); google-research/bert bert_config.json (intermediate 3072, vocab 30522, 512 positions)',
  },
  {
    ...BERT_COMMON,
    name: 'bert-large',
    layers: 24, hidden: 1024, heads: 16, kvHeads: 16, headDim: 64, ffnHidden: 4096,
    source: 'Devlin et al., "BERT", NAACL 2019, §3 (L=24, H=1024, A=16, 340M); google-research/bert bert_config.json (intermediate 4096)',
  },
  {
    ...GPT_COMMON,
    name: 'gpt2-xl',
    layers: 48, hidden: 1600, heads: 25, kvHeads: 25, headDim: 64, ffnHidden: 6400, vocab: 50257, maxSeq: 1024,
    source: 'Radford et al., "Language Models are Unsupervised Multitask Learners", 2019, Table 2 (48 layers, d_model 1600, 1542M); HF gpt2-xl config (25 heads, n_ctx 1024, vocab 50257)',
  },
  {
    ...GPT_COMMON,
    name: 'mega-gpt2-8.3b',
    layers: 72, hidden: 3072, heads: 32, kvHeads: 32, headDim: 96, ffnHidden: 12288, vocab: 51200, maxSeq: 1024,
    source: 'Shoeybi et al., "Megatron-LM", 2019, Table 1 (8.3B: 72 layers, hidden 3072, 32 heads) and §5 (vocab padded to 51,200, sequence 1024)',
  },
  {
    ...GPT_COMMON,
    name: 't-nlg-17b',
    layers: 78, hidden: 4256, heads: 28, kvHeads: 28, headDim: 152, ffnHidden: 17024, vocab: 51200, maxSeq: 1024,
    source: 'Microsoft Research blog "Turing-NLG: A 17-billion-parameter language model", Feb 2020 (78 layers, hidden 4256, 28 heads); FFN 4h and Megatron vocab padding assumed',
  },
  {
    ...GPT_COMMON,
    name: 'gpt3-175b',
    layers: 96, hidden: 12288, heads: 96, kvHeads: 96, headDim: 128, ffnHidden: 49152, vocab: 50257, maxSeq: 2048,
    source: 'Brown et al., "Language Models are Few-Shot Learners", 2020, Table 2.1 (96 layers, d_model 12288, 96 heads, d_head 128, context 2048)',
  },
  {
    ...GPT_COMMON,
    name: 'palm-540b',
    ffnKind: 'swiglu', positional: 'rope', bias: false, dropout: 0, parallelBlock: true,
    layers: 118, hidden: 18432, heads: 48, kvHeads: 1, headDim: 256, ffnHidden: 73728, vocab: 256000, maxSeq: 2048,
    source: 'Chowdhery et al., "PaLM", 2022, Table 1 (118 layers, d_model 18432, 48 heads, d_head 256, d_ff 4 d_model) and §2 (multi-query attention, SwiGLU, parallel layers, no biases, shared embeddings, 256k vocab)',
  },
  {
    ...GPT_COMMON,
    name: 'mt-nlg-530b',
    layers: 105, hidden: 20480, heads: 128, kvHeads: 128, headDim: 160, ffnHidden: 81920, vocab: 51200, maxSeq: 2048,
    source: 'Smith et al., "Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B", 2022, §2 (105 layers, hidden 20480, 128 heads, sequence 2048)',
  },
  {
    ...LLAMA_COMMON,
    name: 'llama2-7b',
    layers: 32, hidden: 4096, heads: 32, kvHeads: 32, headDim: 128, ffnHidden: 11008, vocab: 32000, maxSeq: 4096,
    source: 'Touvron et al., "Llama 2", 2023, Table 1 and HF meta-llama/Llama-2-7b-hf config (32 layers, 4096, 32 heads, intermediate 11008, vocab 32000, 4k context)',
  },
  {
    ...LLAMA_COMMON,
    name: 'llama2-70b',
    layers: 80, hidden: 8192, heads: 64, kvHeads: 8, headDim: 128, ffnHidden: 28672, vocab: 32000, maxSeq: 4096,
    source: 'Touvron et al., "Llama 2", 2023, Table 1 (GQA) and HF meta-llama/Llama-2-70b-hf config (80 layers, 8192, 64 heads, 8 KV heads, intermediate 28672)',
  },
  {
    ...LLAMA_COMMON,
    name: 'llama3-8b',
    layers: 32, hidden: 4096, heads: 32, kvHeads: 8, headDim: 128, ffnHidden: 14336, vocab: 128256, maxSeq: 8192,
    source: 'Meta Llama 3 model card and HF meta-llama/Meta-Llama-3-8B config (32 layers, 4096, 32 heads, 8 KV heads, intermediate 14336, vocab 128256, 8k context)',
  },
  {
    ...LLAMA_COMMON,
    name: 'llama3.1-70b',
    layers: 80, hidden: 8192, heads: 64, kvHeads: 8, headDim: 128, ffnHidden: 28672, vocab: 128256, maxSeq: 131072,
    source: 'Dubey et al., "The Llama 3 Herd of Models", 2024, Table 3 (70B: 80 layers, 8192, FFN 28672, 64 heads, 8 KV heads, vocab 128K) and 128K context',
  },
  {
    ...LLAMA_COMMON,
    name: 'llama3.1-405b',
    layers: 126, hidden: 16384, heads: 128, kvHeads: 8, headDim: 128, ffnHidden: 53248, vocab: 128256, maxSeq: 131072,
    source: 'Dubey et al., "The Llama 3 Herd of Models", 2024, Table 3 (405B: 126 layers, 16384, FFN 53248, 128 heads, 8 KV heads, vocab 128K)',
  },
  {
    ...LLAMA_COMMON,
    name: 'mixtral-8x7b',
    layers: 32, hidden: 4096, heads: 32, kvHeads: 8, headDim: 128, ffnHidden: 14336, vocab: 32000, maxSeq: 32768,
    experts: 8, expertsPerToken: 2,
    source: 'Jiang et al., "Mixtral of Experts", 2024, Table 1 (32 layers, dim 4096, 32 heads, 8 KV heads, hidden 14336, 8 experts, top-2, vocab 32000, context 32768)',
  },
];
