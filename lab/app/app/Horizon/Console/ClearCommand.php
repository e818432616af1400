<?php

namespace App\Horizon\Console;

use Illuminate\Console\Command;
use Illuminate\Console\ConfirmableTrait;
use Illuminate\Contracts\Queue\ClearableQueue;
use Illuminate\Queue\QueueManager;

class ClearCommand extends Command
{
    use ConfirmableTrait, RendersComponents;

    protected $signature = 'horizon:clear
                            {connection? : The name of the queue connection}
                            {--queue= : The name of the queue to clear}
                            {--force : Force the operation to run when in production}';

    protected $description = 'Delete all of the jobs from the specified queue';

    public function handle(QueueManager $manager): int
    {
        if (! $this->confirmToProceed()) {
            return 1;
        }

        $config = $this->laravel['config'];
        $defaults = $config->get('horizon.defaults') ?: [];
        $first = is_array($defaults) ? reset($defaults) : null;
        $connection = $this->argument('connection') ?: ($first['connection'] ?? 'redis');

        if ($config->get("queue.connections.{$connection}.driver") !== 'redis') {
            $this->componentError("Horizon only clears redis queue connections; [{$connection}] is not one.");

            return 1;
        }

        $queue = $this->option('queue') ?: $config->get("queue.connections.{$connection}.queue", 'default');
        $driver = $manager->connection($connection);

        if (! $driver instanceof ClearableQueue) {
            $this->componentError('Clearing queues is not supported on this version of Laravel.');

            return 1;
        }

        $count = $driver->clear($queue);

        $this->componentInfo('Cleared '.$count.' jobs from the ['.$queue.'] queue.');

        return 0;
    }
}
