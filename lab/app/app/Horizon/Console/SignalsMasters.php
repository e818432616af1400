<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use App\Horizon\MasterSupervisor;
use App\Horizon\Repository;
use Illuminate\Support\Str;

/**
 * pause / continue / terminate: signal the masters registered by this
 * machine, as Horizon does: every master whose name starts with this
 * machine's slugged hostname (so host "vm" also signals the pids that
 * "vm0-abcd" registered). Nothing proves the effect: a dead pid is a
 * "Failed to kill process" line, and the exit code is 0 whatever happened.
 */
trait SignalsMasters
{
    use RendersComponents;

    protected function signalLocalMasters(Repository $repository, int $signal, string $signalName, string $noneMessage): void
    {
        $pids = [];

        foreach ($repository->masters() as $master) {
            if (Str::startsWith($master->name, MasterSupervisor::basename())) {
                $pids[] = $master->pid;
            }
        }

        if (! Contract::components()) {
            // Up to 5.22: one line per master, nothing at all without one.
            foreach ($pids as $pid) {
                $this->info("Sending {$signalName} Signal To Process: {$pid}");

                if (! posix_kill($pid, $signal)) {
                    $this->error("Failed to kill process: {$pid} (".posix_strerror(posix_get_last_error()).')');
                }
            }

            return;
        }

        if ($pids === []) {
            $this->componentInfo($noneMessage);

            return;
        }

        $this->componentInfo("Sending {$signalName} signal to processes.");

        foreach ($pids as $pid) {
            $result = true;

            $this->componentTask("Process: {$pid}", function () use ($pid, $signal, &$result) {
                return $result = posix_kill($pid, $signal);
            });

            if (! $result) {
                $this->componentError("Failed to kill process: {$pid} (".posix_strerror(posix_get_last_error()).')');
            }
        }

        $this->output->writeln('');
    }
}
