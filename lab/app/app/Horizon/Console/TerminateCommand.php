<?php

namespace App\Horizon\Console;

use App\Horizon\MasterSupervisor;
use App\Horizon\Repository;
use Illuminate\Console\Command;
use Illuminate\Support\InteractsWithTime;

class TerminateCommand extends Command
{
    use SignalsMasters, InteractsWithTime;

    protected $signature = 'horizon:terminate
                            {--wait : Wait until the signalled masters have exited}';

    protected $description = 'Terminate the master supervisor so it can be restarted';

    public function handle(Repository $repository): int
    {
        $pids = $this->signalLocalMasters($repository, SIGTERM, 'TERM', 'No processes to terminate.');

        // Like Horizon: plain queue:work workers sharing this cache restart too.
        $this->laravel['cache']->forever('illuminate:queue:restart', $this->currentTime());

        if ($this->option('wait')) {
            while ($pids = array_values(array_filter($pids, [MasterSupervisor::class, 'processExists']))) {
                usleep(200000);
            }
        }

        return 0;
    }
}
