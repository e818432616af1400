<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use App\Horizon\Repository;
use App\Horizon\SupervisorOptions;
use Illuminate\Console\Command;

class ListCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:list';

    protected $description = 'List all of the deployed machines';

    public function handle(Repository $repository): int
    {
        $masters = $repository->masters();

        if ($masters === []) {
            $this->sayInfo('No machines are running.');

            return 0;
        }

        if (Contract::components()) {
            $this->output->writeln('');
        }

        $this->table(['Name', 'PID', 'Supervisors', 'Status'], array_map(function ($master) {
            return [
                $master->name,
                $master->pid,
                $master->supervisors
                    ? implode(', ', array_map([SupervisorOptions::class, 'shortName'], $master->supervisors))
                    : 'None',
                $master->status,
            ];
        }, $masters));

        if (Contract::components()) {
            $this->output->writeln('');
        }

        return 0;
    }
}
