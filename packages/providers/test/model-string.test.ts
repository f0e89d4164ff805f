import { describe, expect, it } from 'vitest';
import { InvalidModelStringError, parseModelString, UnknownModelError } from '../src/index.js';

describe('parseModelString', () => {
  it('parses the any-llm / Otari convention provider:model', () => {
    expect(parseModelString('cascadia:smollm2-135m-instruct')).toEqual({
      provider: 'cascadia',
      model: 'smollm2-135m-instruct',
      separator: ':',
    });
  });

  it('parses the LiteLLM convention provider/model', () => {
    expect(parseModelString('cascadia/smollm2-135m-instruct')).toEqual({
      provider: 'cascadia',
      model: 'smollm2-135m-instruct',
      separator: '/',
    });
  });

  it('splits at whichever separator comes first and keeps the rest verbatim', () => {
    expect(parseModelString('cascadia:org/model')).toEqual({
      provider: 'cascadia',
      model: 'org/model',
      separator: ':',
    });
    expect(parseModelString('openai/gpt:4')).toEqual({ provider: 'openai', model: 'gpt:4', separator: '/' });
    expect(parseModelString('hf:meta-llama/Llama-3:8b')).toEqual({
      provider: 'hf',
      model: 'meta-llama/Llama-3:8b',
      separator: ':',
    });
    expect(parseModelString('a//b')).toEqual({ provider: 'a', model: '/b', separator: '/' });
  });

  it.each([
    ['', 'empty'],
    ['smollm2', 'no separator'],
    [':model', 'empty provider'],
    ['/model', 'empty provider'],
    ['cascadia:', 'empty model'],
    ['cascadia/', 'empty model'],
    ['bad provider:model', 'provider with a space'],
    ['cascadia:line\nbreak', 'control character in model'],
  ])('rejects %j (%s) with InvalidModelStringError', (input) => {
    let caught: unknown;
    try {
      parseModelString(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidModelStringError);
    expect(caught).toBeInstanceOf(UnknownModelError);
    expect((caught as InvalidModelStringError).code).toBe('invalid_model_string');
  });
});
