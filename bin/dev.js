#!/usr/bin/env -S node --import tsx
// Runs the CLI straight from src/ (TypeScript through tsx), for development.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
