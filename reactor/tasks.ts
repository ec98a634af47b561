// Cross-shard tasks: defined in net/tasks.ts (net/ modules define tasks too) and re-exported here for the reactor.
import * as t from '../net/tasks';

export type Task = t.Task;
export type TaskHandle<A extends unknown[], R> = t.TaskHandle<A, R>;
export import registerTask = t.registerTask;
export import getTask = t.getTask;
export import taskNames = t.taskNames;
export import defineTask = t.defineTask;
