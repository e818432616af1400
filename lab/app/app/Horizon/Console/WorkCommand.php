<?php

namespace App\Horizon\Console;

use Illuminate\Queue\Console\WorkCommand as QueueWorkCommand;

/**
 * Horizon's worker: Laravel's queue:work under another name, told which
 * supervisor it belongs to. Started by a supervisor; not meant to be run by
 * hand.
 */
class WorkCommand extends QueueWorkCommand
{
    protected $signature = 'horizon:work
                            {connection? : The name of the queue connection to work}
                            {--name=default : The name of the worker}
                            {--delay=0 : Seconds to delay failed jobs (deprecated)}
                            {--backoff=0 : Seconds before retrying a job that threw}
                            {--max-jobs=0 : Jobs to process before stopping}
                            {--max-time=0 : Seconds the worker may run}
                            {--daemon : Run the worker in daemon mode (deprecated)}
                            {--force : Run even in maintenance mode}
                            {--memory=128 : The memory limit in megabytes}
                            {--once : Only process the next job on the queue}
                            {--stop-when-empty : Stop when the queue is empty}
                            {--queue= : The names of the queues to work}
                            {--sleep=3 : Seconds to sleep when no job is available}
                            {--rest=0 : Seconds to rest between jobs}
                            {--supervisor= : The name of the supervisor the worker belongs to}
                            {--timeout=60 : The number of seconds a child process can run}
                            {--tries=0 : Number of times to attempt a job before logging it failed}';

    protected $hidden = true;
}
