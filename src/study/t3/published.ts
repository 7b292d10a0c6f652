/**
 * The published T3 figures silica is compared with (mission.md §2: T3, Pati et al., ASPLOS 2024;
 * "abstract" = the paper's abstract, "secondary" = a secondary reading, wide tolerance) and the
 * acceptance bands issue 5 set around them. Speedups are fractions over sequential (0.30 = 30%).
 */
export const PUBLISHED_T3 = {
  source: 'T3 (Pati et al., ASPLOS 2024), as the project brief summarises it (its section 2)',
  t3_mca_geomean_speedup: { value: 0.3, max: 0.47, band: [0.2, 0.4], origin: 'abstract' },
  t3_geomean_speedup: { value: 0.2, max: 0.39, origin: 'secondary' },
  ideal_overlap_geomean_speedup: { value: 0.35, max: 0.5, band: [0.25, 0.45], origin: 'secondary' },
  large_models_t3_mca_geomean_speedup: { value: 0.29, origin: 'abstract' },
  data_movement_reduction_geomean: { value: 0.22, max: 0.36, band: [0.12, 0.32], origin: 'abstract' },
  nmc_rs_speedup: { tp8: 0.07, tp16: 0.03, origin: 'secondary' },
  rs_read_reduction_x: { value: 2.4, origin: 'secondary' },
  gemm_read_reduction_x: { value: 1.56, origin: 'secondary' },
  end_to_end: { training_max: 0.12, prompt_inference_max: 0.15, origin: 'secondary' },
  cu_overlap: { cus8: 1.18, cus16: 1.49, ideal: 1.67, origin: 'secondary' },
} as const;

/** Models of the "~500B" headline (PaLM 540B, MT-NLG 530B). */
export const LARGE_MODELS: readonly string[] = ['palm-540b', 'mt-nlg-530b'];
