<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

/**
 * From Horizon 5.28 only: app/Console/Kernel.php registers it for that
 * contract, so earlier ones answer "Command ... is not defined." as Horizon.
 */
class SupervisorStatusCommand extends Command
{
    use SignalsSupervisors;

    protected $signature = 'horizon:supervisor-status
                            {name : The name of the supervisor}';

    protected $description = 'Show the status for a given supervisor';

    public function handle(Repository $repository): int
    {
        $name = $this->argument('name');
        $supervisor = $this->findLocalSupervisor($repository, $name);

        if ($supervisor === null) {
            $this->componentError('Unable to find a supervisor with this name.');

            return 1;
        }

        $this->componentInfo("{$name} is {$supervisor->status}");

        return 0;
    }
}
