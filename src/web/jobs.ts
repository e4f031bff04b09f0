/**
 * Long web admin actions run as jobs, so that no request hangs silently: the action starts, the browser goes to a
 * page that polls GET /admin/api/jobs/show?id= (src/web/app.ts, /admin/jobs.js) and shows each step as it
 * completes, then the result or the error with what to do. Jobs live in memory (the last 100, finished ones for an
 * hour); at most `maxRunning` run at once. Ids are random (they are not secrets: only admins can read jobs).
 * A job's secret (generated passwords of an import) is handed out once, only to the admin who started it.
 */
import { randomBytes } from 'node:crypto';
import { UserError } from '../common/errors.js';

export type StepStatus = 'pass' | 'warn' | 'fail' | 'info';

export interface JobStep {
  at: string;
  text: string;
  status: StepStatus;
}

export interface Job {
  id: string;
  /** The action, e.g. "domains/check". */
  action: string;
  title: string;
  /** The admin who started it. */
  admin: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  steps: JobStep[];
  /** The outcome in one sentence (done), or what went wrong and what to do (failed). */
  message: string | null;
  result?: unknown;
  /** Where the page links back to when the job is over. */
  back: string;
  /** Shown once to the admin who started the job, then forgotten (takeSecret). */
  secret?: string;
}

export type Progress = (text: string, status?: StepStatus) => void;

export class JobRunner {
  private readonly jobs = new Map<string, Job>();
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly o: { maxRunning?: number; keepMs?: number; maxJobs?: number; onError?: (job: Job, err: unknown) => void } = {},
  ) {}

  /**
   * Start `fn` as a job. UserErrors end it as failed with their message; other errors as failed with a pointer
   * to the server log (and onError logs them).
   */
  start(o: { action: string; title: string; admin: string; back: string }, fn: (progress: Progress) => Promise<{ message: string; data?: unknown; secret?: string }>): Job {
    this.prune();
    const max = this.o.maxRunning ?? 4;
    const busy = [...this.jobs.values()].filter((j) => j.state === 'running').length;
    if (busy >= max) throw new UserError(`${busy} long actions are running already: wait until one has finished (see its page), then try again`);
    const job: Job = { id: randomBytes(9).toString('base64url'), ...o, state: 'running', startedAt: new Date().toISOString(), finishedAt: null, steps: [], message: null };
    this.jobs.set(job.id, job);
    const progress: Progress = (text, status = 'info') => {
      if (job.state === 'running') job.steps.push({ at: new Date().toISOString(), text, status });
    };
    const p = (async () => {
      try {
        const r = await fn(progress);
        job.message = r.message;
        job.result = r.data;
        if (r.secret) job.secret = r.secret;
        job.state = 'done';
      } catch (err) {
        job.state = 'failed';
        if (err instanceof UserError) job.message = err.message;
        else {
          job.message = `the action failed unexpectedly (${(err as Error).message}): see the server log (component web), fix the cause and try again`;
          this.o.onError?.(job, err);
        }
      } finally {
        job.finishedAt = new Date().toISOString();
      }
    })();
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return job;
  }

  /** The secret of a finished job for the admin who started it, once; undefined for anyone else. */
  takeSecret(job: Job, viewer: string): string | undefined {
    if (job.state === 'running' || job.admin !== viewer || !job.secret) return undefined;
    const s = job.secret;
    delete job.secret;
    return s;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Newest first. */
  list(): Job[] {
    this.prune();
    return [...this.jobs.values()].reverse();
  }

  /** Resolves when every running job has finished (server stop, tests). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private prune(now = Date.now()) {
    const keep = this.o.keepMs ?? 3600_000;
    for (const [id, j] of this.jobs) if (j.finishedAt && now - Date.parse(j.finishedAt) > keep) this.jobs.delete(id);
    const max = this.o.maxJobs ?? 100;
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= max) break;
      if (j.state !== 'running') this.jobs.delete(id);
    }
  }
}
