<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
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

        $environment = $this->option('environment') ?: (string) $this->laravel['config']->get('app.env');

        // As Horizon: refused only when a master of the very same name is registered. The
        // name is this machine's slugged hostname and a random token, so a second `horizon`
        // on the same machine starts a second master beside the first.
        $name = MasterSupervisor::generateName();

        if ($repository->getMasters([$name]) !== []) {
            Contract::components()
                ? $this->componentWarn('A master supervisor is already running on this machine.')
                : $this->comment('A master supervisor is already running on this machine.');

            return 0;
        }

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

        $master->onInterrupt(function () {
            if (Contract::components()) {
                $this->output->writeln('');
                $this->componentInfo('Shutting down.');
            } else {
                $this->line('Shutting down...');
            }
        });

        $master->start();

        $this->sayInfo('Horizon started successfully.');

        return $master->monitor();
    }
}
