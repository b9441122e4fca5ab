// A draft into a usage job, whatever the request's shape: every request that reached a node is counted.
// Each part degrades on its own: a capture that cannot be read gives no exact usage (only that part is
// lost), a prompt that cannot be digested gives the undigested prompt (estimate flagged approximate),
// and a job that does not validate is built again from what is certain.
import { UsageJobSchema, type Logger, type PromptDigest, type PromptParts, type UsageJob } from '@switchyard/shared';
import { undigestedPrompt } from './prompt-digest.js';
import type { CaptureResult } from './response-capture.js';
import { usageJobOf, type UsageDraft } from './usage-draft.js';

export interface UsageJobBuildDeps {
  /** The prompt's digest (the recorder's, which knows whether to ask Redis). */
  digest(parts: PromptParts): Promise<PromptDigest>;
  log: Logger;
}

/** What a log line may say about an error on the usage path: its class, never its message (it may quote text). */
export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** The capture's result; undefined (no exact usage known) only if reading it threw. */
function capturedOf(draft: UsageDraft, log: Logger): CaptureResult | undefined {
  try {
    const captured = draft.capture?.result();
    if (captured !== undefined && captured.shortfall !== 'none')
      log.warn('usage capture incomplete', { requestId: draft.requestId, shortfall: captured.shortfall });
    return captured;
  } catch (err) {
    log.error('usage capture failed', { requestId: draft.requestId, error: errorName(err) });
    return undefined;
  }
}

/** The prompt's digest, or the undigested one if digesting threw. */
async function promptOf(draft: UsageDraft, parts: PromptParts, deps: UsageJobBuildDeps): Promise<PromptDigest> {
  try {
    return await deps.digest(parts);
  } catch (err) {
    deps.log.error('usage prompt digest failed', { requestId: draft.requestId, error: errorName(err) });
    return undigestedPrompt();
  }
}

/** The validated job, or undefined (logged) when these parts do not make one. */
function jobOf(
  draft: UsageDraft,
  captured: CaptureResult | undefined,
  prompt: PromptDigest | null,
  log: Logger,
): UsageJob | undefined {
  try {
    const parsed = UsageJobSchema.safeParse(usageJobOf(draft, captured, prompt));
    if (parsed.success) return parsed.data;
    // Paths and codes only: the job carries prompt text, which never goes into a log.
    const issues = parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), code: i.code }));
    log.error('usage job invalid', { requestId: draft.requestId, issues });
  } catch (err) {
    log.error('usage job build failed', { requestId: draft.requestId, error: errorName(err) });
  }
  return undefined;
}

/**
 * The job for one draft. Undefined only when even the reduced job (no answer content, the undigested
 * prompt) is invalid, which no client input can cause: its other fields are the gateway's own.
 *
 * @example
 * const job = await buildUsageJob(draft, { digest: (parts) => digester.digest(parts, { askRedis: true }).then((d) => d.digest), log });
 */
export async function buildUsageJob(draft: UsageDraft, deps: UsageJobBuildDeps): Promise<UsageJob | undefined> {
  const captured = capturedOf(draft, deps.log);
  const prompt = draft.prompt === undefined ? null : await promptOf(draft, draft.prompt, deps);
  const job = jobOf(draft, captured, prompt, deps.log);
  if (job !== undefined) return job;
  const certain = captured === undefined ? undefined : { ...captured, output: null };
  return jobOf(draft, certain, prompt === null ? null : undigestedPrompt(), deps.log);
}
