<?php

namespace App\Console\Commands;

use App\Jobs\DemoJob;
use Illuminate\Console\Command;
use Illuminate\Contracts\Queue\Factory as QueueFactory;
use Symfony\Component\Console\Output\OutputInterface;

class DemoDispatchCommand extends Command
{
    protected $signature = 'demo:dispatch
                            {--count=1 : How many jobs to dispatch}
                            {--connection= : The queue connection (default: the app\'s QUEUE_CONNECTION)}
                            {--queue= : The queue (default: the connection\'s default queue)}
                            {--seconds=0 : How long each job sleeps before it completes}
                            {--fail : Make each job throw, so it ends in failed_jobs}';

    protected $description = 'Dispatch demo jobs and print their ids, one per line';

    /**
     * Jobs pushed per bulk call: one Redis pipeline (MULTI) or one INSERT
     * each; small enough for SQLite's bound-variable limit.
     */
    private const CHUNK = 150;

    public function handle(QueueFactory $queues): int
    {
        $count = filter_var($this->option('count'), FILTER_VALIDATE_INT);
        $seconds = filter_var($this->option('seconds'), FILTER_VALIDATE_FLOAT);

        if ($count === false || $count < 0) {
            $this->getOutput()->getErrorStyle()->writeln('--count must be a non-negative integer.');

            return 2;
        }

        if ($seconds === false || $seconds < 0) {
            $this->getOutput()->getErrorStyle()->writeln('--seconds must be a non-negative number.');

            return 2;
        }

        $connectionName = $this->option('connection') ?: $this->laravel['config']['queue.default'];

        if (! is_array($this->laravel['config']["queue.connections.{$connectionName}"])) {
            $this->getOutput()->getErrorStyle()->writeln("Unknown queue connection [{$connectionName}].");

            return 2;
        }

        $queueName = $this->option('queue') ?: null;
        $queue = $queues->connection($connectionName);
        $fail = (bool) $this->option('fail');

        for ($done = 0; $done < $count; $done += self::CHUNK) {
            $jobs = [];

            for ($i = $done; $i < min($count, $done + self::CHUNK); $i++) {
                $jobs[] = new DemoJob(null, (float) $seconds, $fail);
            }

            $queue->bulk($jobs, '', $queueName);

            // Only ids whose push returned without an exception are printed.
            $this->output->write(implode('', array_map(function (DemoJob $job) {
                return $job->demoId."\n";
            }, $jobs)), false, OutputInterface::OUTPUT_RAW);
        }

        return 0;
    }
}
