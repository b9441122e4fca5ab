import { AppError } from '@switchyard/shared';

/**
 * Whether a request for `model` may run under a key's `allowed` list (null = any model).
 * An entry matches exactly, or by prefix when it ends in '*' ('claude-sonnet-*' matches 'claude-sonnet-4-5';
 * '*' alone matches any named model). A request that names no model passes only when `allowed` is null,
 * so a restricted key cannot slip past its list by leaving the model out.
 * @example
 * isModelAllowed(['claude-sonnet-*'], 'claude-sonnet-4-5'); // true
 * isModelAllowed(['claude-sonnet-*'], undefined); // false
 */
export function isModelAllowed(allowed: readonly string[] | null, model: string | undefined): boolean {
  if (allowed === null) return true;
  if (model === undefined || model === '') return false;
  for (const entry of allowed) {
    if (entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : model === entry) return true;
  }
  return false;
}

/** The 403 model_not_allowed for a request naming `model` under a key's `allowed` list, or undefined when it may run. */
export function modelRefusal(allowed: readonly string[] | null, model: string | undefined): AppError | undefined {
  if (isModelAllowed(allowed, model)) return undefined;
  const message =
    model === undefined
      ? 'This API key is limited to specific models; name one in the request.'
      : `This API key may not use the model ${model}.`;
  return new AppError('model_not_allowed', message);
}
