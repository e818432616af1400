<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

class PauseCommand extends Command
{
    use SignalsMasters;

    protected $signature = 'horizon:pause';

    protected $description = 'Pause the master supervisor';

    public function handle(Repository $repository): int
    {
        $this->signalLocalMasters($repository, SIGUSR2, 'USR2', 'No processes to pause.');

        return 0;
    }
}
