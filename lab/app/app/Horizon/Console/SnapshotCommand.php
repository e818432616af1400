<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

/**
 * Horizon's metrics snapshot (the dashboard's throughput and runtime graphs). The stand-in
 * keeps no metrics: it records when the snapshot was taken, so a schedule that runs it can
 * be seen to.
 */
class SnapshotCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:snapshot';

    protected $description = 'Store a snapshot of the queue metrics';

    public function handle(Repository $repository): int
    {
        $repository->connection()->set('last_snapshot_at', (string) time());
        $this->sayInfo('Metrics snapshot stored successfully.');

        return 0;
    }
}
