<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;
use Illuminate\Support\InteractsWithTime;

/**
 * SIGTERM to this machine's masters; returns at once (the masters exit when
 * their workers have finished their jobs). `--wait` matters only with
 * Horizon's fast_termination, which the stand-in does not have.
 */
class TerminateCommand extends Command
{
    use SignalsMasters, InteractsWithTime;

    protected $signature = 'horizon:terminate
                            {--wait : Wait for all workers to terminate}';

    protected $description = 'Terminate the master supervisor so it can be restarted';

    public function handle(Repository $repository): int
    {
        $this->signalLocalMasters($repository, SIGTERM, 'TERM', 'No processes to terminate.');

        // Like Horizon: plain queue:work workers sharing this cache restart too.
        $this->laravel['cache']->forever('illuminate:queue:restart', $this->currentTime());

        return 0;
    }
}
