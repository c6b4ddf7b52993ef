// Types of check-bundle.mjs for the tests that import it.
export declare const BUDGET: number;
export declare function gzippedSize(dir: string): number;
