/**
 * The Dockerfile as stages of instructions, for the runner image's tests: its invariants checked
 * statically (test/schedule/image.test.ts) and its runtime stage assembled without docker
 * (test/integration/runtime-image.test.ts).
 */
export interface Instruction {
  keyword: string
  args: string
}
export interface Stage {
  from: string
  name: string | undefined
  instructions: Instruction[]
}

/** Dockerfile → stages of instructions (continuations joined, comments dropped, ARG defaults substituted in FROM). */
export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('#'))
  const args = new Map<string, string>()
  const stages: Stage[] = []
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const instruction = {keyword: keyword.toUpperCase(), args: rest}
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=')
      args.set(name, value)
    } else if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/)
      stages.push({
        from: image.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''),
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      })
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

/** The `npm`/`npx`/`yarn`/`pnpm` commands of a stage's RUN lines, split at `&&` and `;`. */
export const npmCommands = (stage: Stage) =>
  stage.instructions
    .filter(i => i.keyword === 'RUN')
    .map(i => i.args)
    .flatMap(r =>
      r
        .split(/&&|;/)
        .map(c => c.trim())
        .filter(c => /^(npm|npx|yarn|pnpm)\b/.test(c)),
    )
