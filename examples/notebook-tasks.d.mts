// Types of notebook-tasks.mjs, so TypeScript cells (tslab, Deno) see the task handles typed.
import type { TaskModule } from '@larder/parallel';

export declare const work: TaskModule<{ simulate: (seed: number) => Promise<number> }>;
