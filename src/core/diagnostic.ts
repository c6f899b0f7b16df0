/** A problem in a probe source, from clang or from the kernel's verifier, on a caller's file. */
export interface Diagnostic {
  /** The caller's (local) path of the file, when it could be mapped back; else the path as reported. */
  file: string;
  /** 1-based; 0 when the position is unknown (then show it on the first line). */
  line: number;
  /** 1-based; 0 when unknown. */
  column: number;
  severity: 'error' | 'warning' | 'note';
  message: string;
  /** Where it came from. */
  source: 'clang' | 'verifier' | 'helper';
}
