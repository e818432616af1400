<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use App\Horizon\Repository;
use Illuminate\Console\Command;

class SupervisorsCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:supervisors';

    protected $description = 'List all of the supervisors';

    public function handle(Repository $repository): int
    {
        $supervisors = $repository->supervisors();

        if ($supervisors === []) {
            $this->sayInfo('No supervisors are running.');

            return 0;
        }

        if (Contract::components()) {
            $this->output->writeln('');
        }

        $this->table(['Name', 'PID', 'Status', 'Workers', 'Balancing'], array_map(function ($supervisor) {
            return [
                $supervisor->name,
                $supervisor->pid,
                $supervisor->status,
                implode(', ', array_map(function ($queue, $count) {
                    return "{$queue} ({$count})";
                }, array_keys($supervisor->processes), $supervisor->processes)),
                $supervisor->options['balance'] ?? 'off',
            ];
        }, $supervisors));

        if (Contract::components()) {
            $this->output->writeln('');
        }

        return 0;
    }
}
