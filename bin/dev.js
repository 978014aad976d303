#!/usr/bin/env -S node --conditions=faultline-source --import tsx
// Runs the CLI straight from src/ (TypeScript through tsx), for development. Commands are found by
// scanning src/commands, never through oclif.manifest.json: `npm run build` writes that for dist/,
// and oclif would run the compiled commands it names.
import {fileURLToPath} from 'node:url'

import {execute, Plugin} from '@oclif/core'

process.env.NODE_ENV = 'development'
const root = fileURLToPath(new URL('..', import.meta.url))
const plugin = new Plugin({root, isRoot: true, ignoreManifest: true})
await plugin.load()
await execute({development: true, loadOptions: {root, plugins: new Map([[plugin.name, plugin]])}})
