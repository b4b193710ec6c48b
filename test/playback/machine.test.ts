import { describe, expect, test } from 'bun:test'
import { createActor, SimulatedClock } from 'xstate'
import {
  type Announcement,
  DRIFT_TOLERANCE_S,
  isNewerSession,
  type PlaybackEvent,
  type PlaybackSession,
  playbackMachine,
  positionAt,
  SAVE_INTERVAL_MS,
  SESSION_IDLE_MS,
} from '../../actors/playback.machine.ts'

const T0 = Date.UTC(2026, 0, 3, 13, 15, 0)
const DURATION = 240

type ChangeFields = { trackId?: string; deviceId?: string; at?: number; duration?: number }

/** The machine with recording effects on a simulated clock; changes are stamped with the clock unless told. */
function harness() {
  const clock = new SimulatedClock()
  clock.set(T0)
  const announced: Array<{ event: Announcement; session: PlaybackSession }> = []
  const saved: PlaybackSession[] = []
  const actor = createActor(
    playbackMachine.provide({
      actions: {
        announce: (_, params) => announced.push({ event: params.event, session: params.session }),
        save: (_, params) => saved.push(params.session),
      },
    }),
    { input: { userId: 'alice' }, clock },
  ).start()
  const change = (fields: ChangeFields) => ({
    trackId: fields.trackId ?? 'song-a',
    duration: fields.duration ?? DURATION,
    deviceId: fields.deviceId ?? 'phone',
    at: fields.at ?? clock.now(),
  })
  const send = (event: PlaybackEvent) => actor.send(event)
  return {
    clock,
    actor,
    announced,
    saved,
    play: (position?: number, fields: ChangeFields = {}) =>
      send({ type: 'play', position, ...change(fields) }),
    pause: (position?: number, fields: ChangeFields = {}) =>
      send({ type: 'pause', position, ...change(fields) }),
    update: (position: number, playing: boolean, fields: ChangeFields = {}) =>
      send({ type: 'update', position, playing, ...change(fields) }),
    state: () => actor.getSnapshot().value,
    session: () => actor.getSnapshot().context.session,
    /** Where the session says the listener is now. */
    position: () => {
      const session = actor.getSnapshot().context.session
      return session ? positionAt(session, clock.now()) : null
    },
  }
}

describe('playback machine', () => {
  test('starts idle; play starts the track and the position moves on with the clock', () => {
    const h = harness()
    expect(h.state()).toBe('idle')
    expect(h.session()).toBeNull()
    h.play(10)
    expect(h.state()).toBe('playing')
    expect(h.session()).toEqual({
      trackId: 'song-a',
      position: 10,
      duration: DURATION,
      playing: true,
      updatedAt: T0,
      deviceId: 'phone',
    })
    h.clock.increment(2500)
    expect(h.position()).toBe(12.5)
    h.clock.increment(60_000)
    expect(h.position()).toBe(72.5)
    expect(h.announced.map((a) => a.event)).toEqual(['trackPlaying'])
  })

  test('the extrapolated position stops at the end of the track', () => {
    const h = harness()
    h.play(DURATION - 1)
    h.clock.increment(5000)
    expect(h.position()).toBe(DURATION)
    // An unknown length (0) never stops it.
    h.play(0, { trackId: 'stream', duration: 0 })
    h.clock.increment(DURATION * 2000)
    expect(h.position()).toBe(DURATION * 2)
  })

  test('pause freezes the position; without a position it pauses where the session is', () => {
    const h = harness()
    h.play(10)
    h.clock.increment(4000)
    h.pause()
    expect(h.state()).toBe('paused')
    expect(h.session()).toMatchObject({ position: 14, playing: false, updatedAt: T0 + 4000 })
    h.clock.increment(30_000)
    expect(h.position()).toBe(14)
    h.pause(20, { deviceId: 'laptop' })
    expect(h.session()).toMatchObject({ position: 20, deviceId: 'laptop' })
    expect(h.announced.map((a) => a.event)).toEqual(['trackPlaying', 'trackPaused', 'trackPaused'])
  })

  test('play without a position resumes the same track, and starts another track from 0', () => {
    const h = harness()
    h.play(30)
    h.clock.increment(1000)
    h.pause()
    h.clock.increment(10_000)
    h.play()
    expect(h.session()).toMatchObject({ trackId: 'song-a', position: 31, playing: true })
    h.clock.increment(1000)
    h.play(undefined, { trackId: 'song-b' })
    expect(h.session()).toMatchObject({ trackId: 'song-b', position: 0, playing: true })
  })

  test("the leader's updates move the session and decide play or pause; each is announced as trackUpdated", () => {
    const h = harness()
    h.update(50, true)
    expect(h.state()).toBe('playing')
    h.clock.increment(1000)
    h.update(51, false)
    expect(h.state()).toBe('paused')
    expect(h.session()).toMatchObject({ position: 51, playing: false, deviceId: 'phone' })
    expect(h.announced.map((a) => a.event)).toEqual(['trackUpdated', 'trackUpdated'])
  })

  test('a change older than the session is refused and counted: it never moves the position back', () => {
    const h = harness()
    h.play(100, { deviceId: 'laptop' })
    h.clock.increment(5000)
    // The phone was offline; it now sends what it did 10 s ago.
    h.update(3, true, { deviceId: 'phone', at: T0 - 10_000 })
    h.pause(3, { deviceId: 'phone', at: T0 - 1 })
    expect(h.state()).toBe('playing')
    expect(h.session()).toMatchObject({ position: 100, updatedAt: T0, deviceId: 'laptop' })
    expect(h.position()).toBe(105)
    expect(h.actor.getSnapshot().context.staleCount).toBe(2)
    expect(h.announced).toHaveLength(1)
    expect(h.saved).toHaveLength(1)
  })

  test('explicit actions: the newest by time wins, whichever device made it, and that device leads', () => {
    const h = harness()
    h.play(10, { deviceId: 'phone' })
    h.clock.increment(3000)
    // Both devices acted at T0 + 2 s and T0 + 3 s; the later one arrives first.
    h.play(60, { deviceId: 'laptop', at: T0 + 3000 })
    h.play(40, { deviceId: 'phone', at: T0 + 2000 })
    expect(h.session()).toMatchObject({ position: 60, deviceId: 'laptop', updatedAt: T0 + 3000 })
    // The same time: the later arrival wins.
    h.pause(70, { deviceId: 'phone', at: T0 + 3000 })
    expect(h.session()).toMatchObject({ position: 70, playing: false, deviceId: 'phone' })
    expect(h.state()).toBe('paused')
  })

  test("a follower's position reports never undo the leader's seek; they are ignored and counted", () => {
    const h = harness()
    h.play(10, { deviceId: 'laptop' })
    h.clock.increment(7000)
    // The phone follows at 17 s and reports it; the laptop seeks to 200 s; the phone's next reports, sent before
    // it heard of the seek, arrive after it.
    h.update(17, true, { deviceId: 'phone' })
    h.play(200, { deviceId: 'laptop' })
    h.clock.increment(250)
    h.update(17.25, true, { deviceId: 'phone' })
    h.clock.increment(250)
    h.update(17.5, false, { deviceId: 'phone', trackId: 'song-b' })
    expect(h.session()).toMatchObject({ trackId: 'song-a', position: 200, playing: true, deviceId: 'laptop' })
    expect(h.position()).toBe(200.5)
    expect(h.state()).toBe('playing')
    expect(h.actor.getSnapshot().context.ignoredCount).toBe(3)
    expect(h.announced.map((a) => a.event)).toEqual(['trackPlaying', 'trackPlaying'])
    // The leader's own reports still correct the session (e.g. it buffered).
    h.update(199, true, { deviceId: 'laptop' })
    expect(h.session()).toMatchObject({ position: 199, deviceId: 'laptop' })
    // An explicit action hands the lead over: from now on the phone's reports count, the laptop's do not.
    h.clock.increment(1000)
    h.pause(120, { deviceId: 'phone' })
    h.update(500, true, { deviceId: 'laptop' })
    h.update(121, false, { deviceId: 'phone' })
    expect(h.session()).toMatchObject({ position: 121, playing: false, deviceId: 'phone' })
    expect(h.actor.getSnapshot().context.ignoredCount).toBe(4)
  })

  test('with no session yet, the first report from any device starts it and makes that device lead', () => {
    const h = harness()
    h.update(5, true, { deviceId: 'tv' })
    h.update(9, true, { deviceId: 'phone' })
    expect(h.session()).toMatchObject({ position: 5, deviceId: 'tv' })
  })

  test('straight playback writes once; updates that agree with the saved session write nothing', () => {
    const h = harness()
    h.play(0)
    for (let second = 1; second <= 30; second++) {
      h.clock.increment(1000)
      // A device reports roughly where the saved session says it is (a little behind, as real players are).
      h.update(second - 0.3, true)
    }
    expect(h.saved).toHaveLength(1)
    expect(h.saved[0]).toMatchObject({ position: 0, playing: true, updatedAt: T0 })
    expect(h.announced).toHaveLength(31)
  })

  test('a seek or drift past the tolerance is written; writes come at most once per interval', () => {
    const h = harness()
    h.play(0)
    h.clock.increment(SAVE_INTERVAL_MS)
    h.update(1 + DRIFT_TOLERANCE_S + 0.5, true)
    expect(h.saved.map((s) => s.position)).toEqual([0, 3.5])
    // Three seeks within one interval: nothing more now, then one write of the last.
    h.clock.increment(100)
    h.update(100, true)
    h.clock.increment(100)
    h.pause(100.1)
    h.clock.increment(100)
    h.play(200)
    expect(h.saved).toHaveLength(2)
    h.clock.increment(SAVE_INTERVAL_MS - 300)
    expect(h.saved).toHaveLength(3)
    expect(h.saved[2]).toMatchObject({ position: 200, playing: true, updatedAt: T0 + SAVE_INTERVAL_MS + 300 })
    // Nothing queued during that interval: the next one writes at once again.
    h.clock.increment(SAVE_INTERVAL_MS)
    h.pause()
    expect(h.saved).toHaveLength(4)
    expect(h.saved[3]).toMatchObject({ playing: false })
  })

  test('flush writes what is newer than the last write, and nothing when nothing is', () => {
    const h = harness()
    h.actor.send({ type: 'flush' })
    expect(h.saved).toHaveLength(0)
    h.play(0)
    h.clock.increment(5000)
    h.update(5, true)
    expect(h.saved).toHaveLength(1)
    h.actor.send({ type: 'flush' })
    expect(h.saved).toHaveLength(2)
    expect(h.saved[1]).toMatchObject({ position: 5, updatedAt: T0 + 5000 })
    h.actor.send({ type: 'flush' })
    expect(h.saved).toHaveLength(2)
  })

  test('a session with no change for a whole SESSION_IDLE_MS interval is flushed and ends at the next check', () => {
    const h = harness()
    const long = { duration: 3600 }
    h.play(0, long)
    // The first check sees the play and waits another interval.
    h.clock.increment(SESSION_IDLE_MS)
    expect(h.actor.getSnapshot().status).toBe('active')
    h.clock.increment(SESSION_IDLE_MS - 1000)
    h.update((2 * SESSION_IDLE_MS - 1000) / 1000, true, long)
    // A change during an interval keeps it for the next one.
    h.clock.increment(1000)
    expect(h.actor.getSnapshot().status).toBe('active')
    expect(h.saved).toHaveLength(1)
    h.clock.increment(SESSION_IDLE_MS - 1)
    expect(h.actor.getSnapshot().status).toBe('active')
    h.clock.increment(1)
    expect(h.actor.getSnapshot().status).toBe('done')
    expect(h.state()).toBe('closed')
    // The flush wrote the update the throttle had let pass.
    expect(h.saved).toHaveLength(2)
    expect(h.saved[1]).toMatchObject({ updatedAt: T0 + 2 * SESSION_IDLE_MS - 1000 })
  })

  test('an actor that never had a session ends at the first check, writing nothing', () => {
    const h = harness()
    h.clock.increment(SESSION_IDLE_MS)
    expect(h.actor.getSnapshot().status).toBe('done')
    expect(h.saved).toEqual([])
  })

  test('a restored playing session keeps extrapolating; a restored paused one stays put', () => {
    const playing = harness()
    const session: PlaybackSession = {
      trackId: 'song-a',
      position: 30,
      duration: DURATION,
      playing: true,
      updatedAt: T0 - 20_000,
      deviceId: 'phone',
    }
    playing.actor.send({ type: 'restore', session })
    expect(playing.state()).toBe('playing')
    expect(playing.position()).toBe(50)
    // Restoring writes nothing, and a stale change is still refused against the restored time.
    playing.update(0, true, { at: T0 - 30_000 })
    expect(playing.position()).toBe(50)
    expect(playing.saved).toHaveLength(0)

    const paused = harness()
    paused.actor.send({ type: 'restore', session: { ...session, playing: false } })
    expect(paused.state()).toBe('paused')
    paused.clock.increment(60_000)
    expect(paused.position()).toBe(30)
  })

  test("another instance's newer session is taken as is, neither announced nor saved; the leader rule and staleness follow it", () => {
    const h = harness()
    h.play(10, { deviceId: 'phone' })
    const [announced, saved] = [h.announced.length, h.saved.length]
    h.clock.increment(5000)
    const remote = {
      trackId: 'song-b',
      position: 70,
      duration: DURATION,
      playing: false,
      updatedAt: h.clock.now(),
      deviceId: 'laptop',
    }
    h.actor.send({ type: 'sync', session: remote })
    expect(h.state()).toBe('paused')
    expect(h.session()).toEqual(remote)
    expect(h.announced).toHaveLength(announced)
    expect(h.saved).toHaveLength(saved)
    // The laptop leads now: the phone's position report is ignored, and a change from before the sync is stale.
    h.clock.increment(1000)
    h.update(12, true, { deviceId: 'phone', trackId: 'song-a' })
    expect(h.actor.getSnapshot().context.ignoredCount).toBe(1)
    h.pause(11, { deviceId: 'phone', trackId: 'song-a', at: remote.updatedAt - 1 })
    expect(h.actor.getSnapshot().context.staleCount).toBe(1)
    expect(h.session()).toEqual(remote)
    // What the other instance saved is not written again here: an update in line with it writes nothing.
    h.update(70, false, { deviceId: 'laptop', trackId: 'song-b' })
    expect(h.saved).toHaveLength(saved)
    expect(h.announced.at(-1)?.event).toBe('trackUpdated')
  })

  test('an older synced session changes nothing; between two of the same millisecond the greater device wins', () => {
    const h = harness()
    h.play(10, { deviceId: 'phone' })
    const mine = h.session() as PlaybackSession
    h.actor.send({ type: 'sync', session: { ...mine, position: 99, updatedAt: mine.updatedAt - 1 } })
    expect(h.session()).toEqual(mine)
    h.actor.send({ type: 'sync', session: { ...mine, position: 98, deviceId: 'alpha' } })
    expect(h.session()).toEqual(mine)
    h.actor.send({ type: 'sync', session: { ...mine, position: 97, playing: false, deviceId: 'tablet' } })
    expect(h.session()).toMatchObject({ position: 97, deviceId: 'tablet' })
    expect(h.state()).toBe('paused')
    expect(isNewerSession(mine, null)).toBe(true)
    expect(isNewerSession(mine, mine)).toBe(false)
  })
})
