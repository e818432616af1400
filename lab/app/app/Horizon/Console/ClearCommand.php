<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use Illuminate\Console\Command;
use Illuminate\Console\ConfirmableTrait;
use Illuminate\Contracts\Queue\ClearableQueue;
use Illuminate\Queue\QueueManager;
use Illuminate\Support\Arr;

/**
 * Clears one queue of the connection of the first supervisor in
 * horizon.defaults (redis without one), as Horizon does: there is no
 * connection argument.
 */
class ClearCommand extends Command
{
    use ConfirmableTrait, RendersComponents;

    protected $signature = 'horizon:clear
                            {--queue= : The name of the queue to clear}
                            {--force : Force the operation to run when in production}';

    protected $description = 'Delete all of the jobs from the specified queue';

    public function handle(QueueManager $manager): int
    {
        if (! $this->confirmToProceed()) {
            return 1;
        }

        $config = $this->laravel['config'];
        $connection = Arr::first((array) $config->get('horizon.defaults'))['connection'] ?? 'redis';
        $queue = $this->option('queue') ?: $config->get("queue.connections.{$connection}.queue", 'default');
        $driver = $manager->connection($connection);

        if (! $driver instanceof ClearableQueue) {
            Contract::components()
                ? $this->componentError('Clearing queues is not supported on this version of Laravel.')
                : $this->line('<error>Clearing queues is not supported on this version of Laravel</error>');

            return 1;
        }

        $count = $driver->clear($queue);

        Contract::components()
            ? $this->componentInfo('Cleared '.$count.' jobs from the ['.$queue.'] queue.')
            : $this->line('<info>Cleared '.$count.' jobs from the ['.$queue.'] queue</info> ');

        return 0;
    }
}
