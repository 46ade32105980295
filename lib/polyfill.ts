// Symbol.dispose for `using` on runtimes (or VM contexts, as under jest) that lack it; Node's own is
// Symbol.for('nodejs.dispose'), so both spellings reach the same method.
if (typeof (Symbol as { dispose?: symbol }).dispose !== 'symbol') {
  Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') });
}
export {};
