export { CHATML_TEMPLATE, type ChatMessage, ChatTemplateError } from './chat-template.js';
export { UnsupportedTokenizerError } from './gguf-tokenizer.js';
export { createTokenizer, loadTokenizer, loadTokenizerSpec } from './load.js';
export { type TokenizerSpec, TokenType } from './spec.js';
export { type DecodeOptions, type EncodeOptions, type StreamDecoder, Tokenizer } from './tokenizer.js';
export { tokenizerJson, writeTokenizerFile } from './tokenizer-file.js';
