<?php

namespace App\Horizon;

use Symfony\Component\Console\Output\OutputInterface;
use Throwable;

/**
 * One supervisor (a `horizon:supervisor` process started by the master):
 * keeps maxProcesses `horizon:work` children running, restarts any that exit
 * (after queue:restart, --memory, a crash) unless paused or terminating.
 *
 * SIGUSR2 pauses (forwarded to the workers, which stop taking jobs),
 * SIGCONT continues, SIGTERM/SIGINT terminate: TERM to every worker, wait
 * until each has finished its current job and exited (SIGKILL after
 * timeout + 10 s), unregister, exit 0. The supervisor also terminates when
 * its master disappears.
 */
class Supervisor
{
    private const TICK = 0.25;

    /** Grace beyond the supervisor timeout before a terminating worker is killed. */
    private const KILL_GRACE = 10;

    /** @var SupervisorOptions */
    private $options;

    /** @var int */
    private $parentId;

    /** @var Repository */
    private $repository;

    /** @var OutputInterface */
    private $output;

    /** @var string */
    private $basePath;

    /** @var (ChildProcess|null)[] one slot per process */
    private $workers = [];

    /** @var float[] earliest (re)start per slot */
    private $startAt = [];

    /** @var bool */
    public $working = true;

    /** @var bool */
    private $terminating = false;

    /** @var float|null */
    private $killAt = null;

    /** @var int[] */
    private $pendingSignals = [];

    /** @var float */
    private $lastPersist = 0.0;

    /** @var bool */
    private $redisHealthy = true;

    public function __construct(SupervisorOptions $options, int $parentId, bool $paused, Repository $repository, OutputInterface $output, string $basePath)
    {
        $this->options = $options;
        $this->parentId = $parentId;
        $this->working = ! $paused;
        $this->repository = $repository;
        $this->output = $output;
        $this->basePath = $basePath;

        for ($slot = 0; $slot < $options->maxProcesses; $slot++) {
            $this->workers[$slot] = null;
            $this->startAt[$slot] = 0.0;
        }
    }

    public function monitor(): int
    {
        pcntl_async_signals(true);

        foreach ([SIGTERM, SIGINT, SIGUSR2, SIGCONT] as $signal) {
            pcntl_signal($signal, function (int $signal) {
                $this->pendingSignals[] = $signal;
            });
        }

        while (true) {
            $this->handlePendingSignals();

            if (! $this->terminating && $this->parentId > 0 && posix_getppid() !== $this->parentId) {
                $this->error('The master is gone; terminating.');
                $this->terminate();
            }

            $this->reapWorkers();

            if ($this->terminating) {
                if ($this->runningWorkers() === []) {
                    break;
                }

                if (microtime(true) >= $this->killAt) {
                    foreach ($this->runningWorkers() as $worker) {
                        $this->error("Worker {$worker->pid()} did not stop within the timeout; killing it.");
                        $worker->signal(SIGKILL);
                    }
                }
            } elseif ($this->working) {
                $this->startMissingWorkers();
            }

            $this->persist();

            usleep((int) (self::TICK * 1000000));
        }

        try {
            $this->repository->forgetSupervisors([$this->options->name]);
        } catch (Throwable $e) {
            $this->error('Could not unregister from Redis: '.$e->getMessage());
        }

        return 0;
    }

    private function handlePendingSignals(): void
    {
        while ($this->pendingSignals !== []) {
            $signal = array_shift($this->pendingSignals);

            switch ($signal) {
                case SIGTERM:
                case SIGINT:
                    $this->terminate();
                    break;
                case SIGUSR2:
                    $this->working = false;
                    $this->signalWorkers(SIGUSR2);
                    $this->persist(true);
                    break;
                case SIGCONT:
                    $this->working = true;
                    $this->signalWorkers(SIGCONT);
                    $this->persist(true);
                    break;
            }
        }
    }

    private function terminate(): void
    {
        if ($this->terminating) {
            return;
        }

        $this->terminating = true;
        $this->killAt = microtime(true) + $this->options->timeout + self::KILL_GRACE;
        $this->signalWorkers(SIGTERM);
    }

    private function reapWorkers(): void
    {
        foreach ($this->workers as $slot => $worker) {
            if ($worker === null || $worker->isRunning()) {
                continue;
            }

            if (! $this->terminating && $worker->exitCode() !== 0) {
                $this->error("Worker {$worker->pid()} {$worker->describeExit()}.");
            }

            // A worker that dies right after starting is restarted after a pause.
            $this->startAt[$slot] = microtime(true) + ($worker->age() < 2 ? 1.0 : 0.0);
            $this->workers[$slot] = null;
        }
    }

    private function startMissingWorkers(): void
    {
        $command = $this->options->workerCommand(PHP_BINARY, $this->basePath.'/artisan');

        foreach ($this->workers as $slot => $worker) {
            if ($worker === null && microtime(true) >= $this->startAt[$slot]) {
                $this->workers[$slot] = new ChildProcess($command, $this->basePath);
            }
        }
    }

    /**
     * @return ChildProcess[]
     */
    private function runningWorkers(): array
    {
        return array_filter($this->workers, function (?ChildProcess $worker) {
            return $worker !== null && $worker->isRunning();
        });
    }

    private function signalWorkers(int $signal): void
    {
        foreach ($this->runningWorkers() as $worker) {
            $worker->signal($signal);
        }
    }

    private function persist(bool $now = false): void
    {
        if (! $now && microtime(true) - $this->lastPersist < 1.0) {
            return;
        }

        $this->lastPersist = microtime(true);

        $pids = array_values(array_map(function (ChildProcess $worker) {
            return $worker->pid();
        }, $this->runningWorkers()));

        try {
            $this->repository->updateSupervisor(
                $this->options->name,
                explode(':', $this->options->name, 2)[0],
                getmypid(),
                $this->working ? 'running' : 'paused',
                [$this->options->connection.':'.$this->options->queue => count($pids)],
                $this->options->toArray(),
                $pids
            );

            $this->redisHealthy = true;
        } catch (Throwable $e) {
            if ($this->redisHealthy) {
                $this->error('Cannot register in Redis (workers keep running): '.$e->getMessage());
            }

            $this->redisHealthy = false;
            $this->repository->reconnect();
        }
    }

    private function error(string $message): void
    {
        $stream = $this->output instanceof \Symfony\Component\Console\Output\ConsoleOutputInterface
            ? $this->output->getErrorOutput()
            : $this->output;

        $stream->writeln('['.date('Y-m-d H:i:s').'] '.$this->options->name.': '.$message, OutputInterface::OUTPUT_RAW);
    }
}
