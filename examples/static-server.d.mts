// Types of static-server.mjs, for the TypeScript tests that serve the example page.
export interface ExampleSite {
  url: string;
  close(): Promise<void>;
}
export function serveExample(options: { brokerUrl: string | (() => string | undefined); port?: number; host?: string }): Promise<ExampleSite>;
