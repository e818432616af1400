<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

class ContinueSupervisorCommand extends Command
{
    use SignalsSupervisors;

    protected $signature = 'horizon:continue-supervisor
                            {name : The name of the supervisor to resume}';

    protected $description = 'Instruct the supervisor to continue processing jobs';

    public function handle(Repository $repository): int
    {
        return $this->signalLocalSupervisor($repository, $this->argument('name'), SIGCONT, 'CONT');
    }
}
