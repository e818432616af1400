<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use App\Horizon\Supervisor;
use App\Horizon\SupervisorOptions;
use Illuminate\Console\Command;
use InvalidArgumentException;

/**
 * Started by the master for each supervisor; not meant to be run by hand.
 */
class SupervisorCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:supervisor
                            {name : The name of supervisor}
                            {connection : The name of the connection to work}
                            {--workers-name=default : The name given to the workers}
                            {--balance=off : The balancing strategy the supervisor should apply}
                            {--max-processes=1 : The maximum number of total workers to start}
                            {--min-processes=1 : The minimum number of workers to assign per queue}
                            {--nice=0 : The process priority}
                            {--balance-cooldown=3 : Seconds between two scaling steps}
                            {--balance-max-shift=1 : Processes added or removed per scaling step}
                            {--auto-scaling-strategy=time : Scale by jobs or by time to complete}
                            {--parent-id=0 : The parent process ID}
                            {--paused : Start the supervisor paused}
                            {--backoff=0 : Seconds before retrying a job that threw}
                            {--max-time=0 : Seconds a worker may run}
                            {--max-jobs=0 : Jobs a worker may process}
                            {--memory=128 : The memory limit in megabytes}
                            {--queue= : The names of the queues to work}
                            {--sleep=3 : Seconds to sleep when no job is available}
                            {--timeout=60 : The number of seconds a child process can run}
                            {--tries=0 : Number of times to attempt a job before logging it failed}
                            {--rest=0 : Seconds to rest between jobs}';

    protected $description = 'Start a new supervisor (Horizon stand-in, started by the master)';

    protected $hidden = true;

    public function handle(Repository $repository): int
    {
        try {
            $options = SupervisorOptions::fromConfig($this->argument('name'), [
                'connection' => $this->argument('connection'),
                'queue' => $this->option('queue'),
                'balance' => $this->option('balance'),
                'autoScalingStrategy' => $this->option('auto-scaling-strategy'),
                'balanceCooldown' => $this->option('balance-cooldown'),
                'balanceMaxShift' => $this->option('balance-max-shift'),
                'maxProcesses' => $this->option('max-processes'),
                'minProcesses' => $this->option('min-processes'),
                'tries' => $this->option('tries'),
                'timeout' => $this->option('timeout'),
                'memory' => $this->option('memory'),
                'nice' => $this->option('nice'),
            ], function (string $connection) {
                return $this->laravel['config']->get("queue.connections.{$connection}.queue", 'default');
            });
        } catch (InvalidArgumentException $e) {
            $this->componentError($e->getMessage());

            return 1;
        }

        $supervisor = new Supervisor(
            $options,
            (int) $this->option('parent-id'),
            (bool) $this->option('paused'),
            $repository,
            $this->getOutput()->getOutput(),
            $this->laravel->basePath()
        );

        return $supervisor->monitor();
    }
}
