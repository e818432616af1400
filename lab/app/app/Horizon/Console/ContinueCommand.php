<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

class ContinueCommand extends Command
{
    use SignalsMasters;

    protected $signature = 'horizon:continue';

    protected $description = 'Instruct the master supervisor to continue processing jobs';

    public function handle(Repository $repository): int
    {
        $this->signalLocalMasters($repository, SIGCONT, 'CONT', 'No processes to continue.');

        return 0;
    }
}
