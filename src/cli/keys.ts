import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Config, loadConfig } from '../config.ts'
import { ApiKeyService, type ApiKeySummary, type KeyScope } from '../identity/api-keys.ts'
import { TokenService } from '../identity/tokens.ts'
import { openDatabase } from '../platform/db/index.ts'

const USAGE = `usage: bun run keys -- create --name <name> [--systems 1,7] [--talkgroups 100,200] [--short-name <openmhz name>]
                      | list | revoke --name <name>    [--url http://host:port]`

type Command =
  | { action: 'create'; name: string; scope: KeyScope }
  | { action: 'revoke'; name: string }
  | { action: 'list' }

/** `1,7` → [1, 7]; undefined stays undefined (unscoped). */
function idList(value: string | undefined, option: string): number[] | null {
  if (value === undefined) return null
  const ids = value.split(',').map((part) => part.trim())
  if (!ids.every((id) => /^\d{1,10}$/.test(id)))
    throw new Error(`--${option} takes ids separated by commas, e.g. 1,7`)
  return ids.map(Number)
}

function parseCommand(): { command: Command; url: string | undefined } {
  const { values, positionals } = parseArgs({
    options: {
      name: { type: 'string' },
      url: { type: 'string' },
      systems: { type: 'string' },
      talkgroups: { type: 'string' },
      'short-name': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const action = positionals[0]
  if (action === 'list') return { command: { action }, url: values.url }
  if (action === 'create' || action === 'revoke') {
    if (!values.name) throw new Error(`--name is required\n${USAGE}`)
    if (action === 'revoke') return { command: { action, name: values.name }, url: values.url }
    const scope: KeyScope = {
      systems: idList(values.systems, 'systems'),
      talkgroups: idList(values.talkgroups, 'talkgroups'),
      openmhzShortName: values['short-name'] ?? null,
    }
    return { command: { action, name: values.name, scope }, url: values.url }
  }
  throw new Error(USAGE)
}

/** Through the running server's admin API; null when no server answers at `baseUrl`. */
async function viaServer(config: Config, baseUrl: string, command: Command): Promise<unknown> {
  const token = await new TokenService(config.jwtSecret).sign({ userId: 'keys-cli', role: 'admin' }, 60)
  const endpoint = `${baseUrl}/api/v1/admin/keys`
  const init: RequestInit = {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  }
  let response: Response
  try {
    if (command.action === 'list') response = await fetch(endpoint, init)
    else if (command.action === 'create')
      response = await fetch(endpoint, {
        ...init,
        method: 'POST',
        body: JSON.stringify({
          name: command.name,
          systems: command.scope.systems ?? undefined,
          talkgroups: command.scope.talkgroups ?? undefined,
          openmhzShortName: command.scope.openmhzShortName ?? undefined,
        }),
      })
    else
      response = await fetch(`${endpoint}/${encodeURIComponent(command.name)}`, { ...init, method: 'DELETE' })
  } catch {
    return null
  }
  const body = (await response.json().catch(() => ({}))) as { data?: unknown; message?: string }
  if (!response.ok) throw new Error(body.message ?? `server answered ${response.status}`)
  return body.data
}

/** Straight to the database, for when the server is stopped (PGlite allows one process at a time). */
async function viaDatabase(config: Config, command: Command): Promise<unknown> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    pgliteDir: join(config.dataDir, 'db'),
  })
  try {
    const keys = new ApiKeyService(database.db, [])
    if (command.action === 'list') return await keys.list()
    if (command.action === 'create') return await keys.create(command.name, command.scope)
    return await keys.revoke(command.name)
  } finally {
    await database.close()
  }
}

function print(command: Command, result: unknown): void {
  if (command.action === 'create') {
    const created = result as ApiKeySummary & { key: string }
    console.log(created.key)
    console.error(`created key "${created.name}": store it now, it is not shown again`)
  } else if (command.action === 'revoke') {
    console.log(`revoked key "${(result as ApiKeySummary).name}"`)
  } else {
    const keys = result as ApiKeySummary[]
    if (keys.length === 0) console.log('no keys')
    for (const k of keys) {
      const state = k.revokedAt ? `revoked ${k.revokedAt}` : 'active'
      const scope = [
        k.systems ? `systems ${k.systems.join(',')}` : 'all systems',
        k.talkgroups ? `talkgroups ${k.talkgroups.join(',')}` : 'all talkgroups',
        ...(k.openmhzShortName ? [`openmhz ${k.openmhzShortName}`] : []),
      ].join(' ')
      console.log(
        `${k.name}\t${k.prefix}…\t${state}\t${scope}\tcreated ${k.createdAt}\tlast used ${k.lastUsedAt ?? 'never'}`,
      )
    }
  }
}

try {
  const { command, url } = parseCommand()
  const config = loadConfig()
  const baseUrl = url ?? `http://127.0.0.1:${config.port}`
  const result = (await viaServer(config, baseUrl, command)) ?? (await viaDatabase(config, command))
  print(command, result)
} catch (err) {
  console.error(`keys: ${(err as Error).message}`)
  process.exit(2)
}
