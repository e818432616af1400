<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

class PauseSupervisorCommand extends Command
{
    use SignalsSupervisors;

    protected $signature = 'horizon:pause-supervisor
                            {name : The name of the supervisor to pause}';

    protected $description = 'Pause a supervisor';

    public function handle(Repository $repository): int
    {
        return $this->signalLocalSupervisor($repository, $this->argument('name'), SIGUSR2, 'USR2');
    }
}
