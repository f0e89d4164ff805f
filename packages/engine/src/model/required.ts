import type { LlamaConfig } from './types.js';

/** Hugging Face names of the tensors a Llama-family decoder cannot run without. */
export function requiredTensorNames(config: LlamaConfig): string[] {
  const names = ['model.embed_tokens.weight', 'model.norm.weight'];
  if (!config.tieWordEmbeddings) names.push('lm_head.weight');
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    for (const t of [
      'input_layernorm',
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'post_attention_layernorm',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ]) {
      names.push(`${p}${t}.weight`);
    }
    if (config.attentionBias) {
      for (const t of ['q_proj', 'k_proj', 'v_proj']) names.push(`${p}self_attn.${t}.bias`);
    }
  }
  return names;
}
