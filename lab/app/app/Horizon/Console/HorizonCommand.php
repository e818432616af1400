<?php

namespace App\Horizon\Console;

use App\Horizon\MasterSupervisor;
use App\Horizon\ProvisioningPlan;
use App\Horizon\Repository;
use Illuminate\Console\Command;
use InvalidArgumentException;

class HorizonCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon
                            {--environment= : The environment name}';

    protected $description = 'Start a master supervisor in the foreground (Horizon stand-in)';

    public function handle(Repository $repository): int
    {
        if (! extension_loaded('pcntl') || ! extension_loaded('posix')) {
            $this->componentError('Horizon needs the pcntl and posix PHP extensions.');

            return 1;
        }

        // One master per machine. A registration whose pid no longer exists
        // here (a master that was killed) is stale and is removed.
        foreach ($repository->masters() as $master) {
            if (! MasterSupervisor::isOnThisMachine($master->name)) {
                continue;
            }

            if (MasterSupervisor::processExists($master->pid)) {
                $this->componentWarn('A master supervisor is already running on this machine.');

                return 0;
            }

            $repository->forgetMaster($master->name);
        }

        $environment = $this->option('environment') ?: (string) $this->laravel['config']->get('app.env');
        $name = MasterSupervisor::generateName();

        try {
            $plan = ProvisioningPlan::forEnvironment($this->laravel['config'], $name, $environment);
        } catch (InvalidArgumentException $e) {
            $this->componentError($e->getMessage());

            return 1;
        }

        if ($plan === []) {
            $this->getOutput()->getErrorStyle()->writeln(
                "No supervisors are configured for the [{$environment}] environment in config/horizon.php."
            );
        }

        $master = new MasterSupervisor(
            $name,
            $environment,
            $plan,
            $repository,
            $this->getOutput()->getOutput(),
            $this->laravel->basePath(),
            (int) $this->laravel['config']->get('horizon.memory_limit', 64)
        );

        $master->start();

        $this->componentInfo('Horizon started successfully.');

        return $master->monitor();
    }
}
