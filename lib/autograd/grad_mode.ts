/** Whether ops record the graph for backward (torch.is_grad_enabled / no_grad / enable_grad). */
import { ckError } from '../errors';
let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

export function setGradEnabled(on: boolean): void {
  enabled = on;
}

function withMode<T>(on: boolean, fn: () => T): T {
  if (typeof fn !== 'function') throw ckError('ERR_ARG', `noGrad/enableGrad: expected a function, got ${typeof fn}`, 'TypeError');
  const prev = enabled;
  enabled = on;
  try {
    const r = fn();
    if (r instanceof Promise) {
      enabled = prev;
      throw ckError('ERR_ARG', 'noGrad/enableGrad: fn must be synchronous', 'TypeError');
    }
    return r;
  } finally {
    enabled = prev;
  }
}

/** Runs fn without recording the graph (inference, parameter updates). */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, fn);
}

/** Runs fn with recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  return withMode(true, fn);
}

/**
 * Wraps a module of raw (non-recording) ops so each call runs with grad mode off: the views and copies
 * the raw ops make internally must not record graph nodes of their own.
 */
export function rawModule<M extends object>(m: M): M {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    out[k] =
      typeof v === 'function'
        ? (...args: unknown[]) => {
            const prev = enabled;
            enabled = false;
            try {
              return (v as (...a: unknown[]) => unknown)(...args);
            } finally {
              enabled = prev;
            }
          }
        : v;
  }
  return out as M;
}
