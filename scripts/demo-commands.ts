/**
 * The commands `npm run demo` prints, in one place so that
 * test/e2e/readme-commands.test.ts runs exactly these lines, as printed,
 * from the repository root.
 */
export interface DemoPaths {
  /** Kubeconfig through Hawser, relative to the repository root. */
  kubeconfig: string;
  /** The server's data directory, relative to the repository root. */
  dataDir: string;
  /** The server's operator URL. */
  publicUrl: string;
}

export interface DemoCommand {
  /** The shell line, as printed. */
  readonly line: string;
  /** Printed after the line, two spaces and in parentheses. */
  readonly note?: string;
  /** `ok`: exits 0; `refused`: Hawser or the cluster refuses it (exit 1); `stream`: runs until stopped. */
  readonly expect: 'ok' | 'refused' | 'stream';
}

export function demoCommands(p: DemoPaths): { browse: DemoCommand[]; refused: DemoCommand[]; hawser: DemoCommand[] } {
  const kubectl = `npm run -s kubectl -- --kubeconfig ${p.kubeconfig}`;
  const server = `--data-dir ${p.dataDir} --server ${p.publicUrl}`;
  return {
    browse: [
      { line: `${kubectl} get pods -A`, expect: 'ok' },
      { line: `${kubectl} get deployments,configmaps -n demo-apps`, expect: 'ok' },
      { line: `${kubectl} get configmaps -n demo-apps -w`, note: 'and change one with the admin kubeconfig', expect: 'stream' },
      { line: `${kubectl} auth can-i --list -n demo-apps`, expect: 'ok' },
    ],
    refused: [
      { line: `${kubectl} create configmap x -n demo-apps`, note: 'the agent is read-only', expect: 'refused' },
      { line: `${kubectl} get secret db-password -n demo-apps`, note: "the cluster's RBAC: view cannot read Secrets", expect: 'refused' },
    ],
    hawser: [
      { line: `npx hawser audit ${server}`, expect: 'ok' },
      { line: `npx hawser cluster list ${server}`, expect: 'ok' },
    ],
  };
}

/** One printed line: the command, then its note. */
export function formatCommand(c: DemoCommand, width: number): string {
  return c.note ? `  ${c.line.padEnd(width)}  (${c.note})` : `  ${c.line}`;
}
