import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config.ts'
import { parseTtl, TokenService } from '../identity/tokens.ts'

const USAGE = 'usage: bun run token -- --sub <user id> [--role admin] [--ttl 1h]'

try {
  const { values } = parseArgs({
    options: { sub: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string', default: '1h' } },
    strict: true,
  })
  if (!values.sub) throw new Error(`--sub is required\n${USAGE}`)
  if (values.role !== undefined && values.role !== 'admin' && values.role !== 'user') {
    throw new Error(`--role must be admin or user\n${USAGE}`)
  }
  const config = loadConfig()
  const token = await new TokenService(config.jwtSecret).sign(
    { userId: values.sub, role: values.role === 'admin' ? 'admin' : 'user' },
    parseTtl(values.ttl ?? '1h'),
  )
  console.log(token)
} catch (err) {
  console.error(`token: ${err instanceof ConfigError ? err.message : (err as Error).message}`)
  process.exit(2)
}
