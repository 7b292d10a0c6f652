/**
 * A registry of named extensions: experiment kinds, serving policies, memory arbitration policies,
 * validation runners. Each is "one file plus one registration line": the file calls `register` at
 * load time, and lookups and the sorted list of names (for help texts and error messages) come
 * from here. Registering a name twice is a programming error, caught at start-up.
 */
export class Registry<T> {
  private readonly entries = new Map<string, T>();

  /** `what` names the kind of entry in the duplicate error, e.g. "serving policy". */
  constructor(private readonly what: string) {}

  register(name: string, entry: T): void {
    if (this.entries.has(name)) throw new Error(`${this.what} ${name} registered twice`);
    this.entries.set(name, entry);
  }

  get(name: string): T | undefined {
    return this.entries.get(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }
}
