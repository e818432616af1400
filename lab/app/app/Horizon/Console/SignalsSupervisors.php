<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use App\Horizon\MasterSupervisor;
use App\Horizon\Repository;
use Illuminate\Support\Str;

/**
 * A supervisor of this machine, looked up as Horizon does: the first whose
 * full name ("<master>:supervisor-1") starts with this machine's slugged
 * hostname and ends with the name given ("supervisor-1", or the full name).
 */
trait SignalsSupervisors
{
    use RendersComponents;

    protected function findLocalSupervisor(Repository $repository, string $name): ?object
    {
        foreach ($repository->supervisors() as $supervisor) {
            if (Str::startsWith($supervisor->name, MasterSupervisor::basename())
                && Str::endsWith($supervisor->name, $name)) {
                return $supervisor;
            }
        }

        return null;
    }

    protected function signalLocalSupervisor(Repository $repository, string $name, int $signal, string $signalName): int
    {
        $supervisor = $this->findLocalSupervisor($repository, $name);

        if ($supervisor === null) {
            $this->sayError('Failed to find a supervisor with this name');

            return 1;
        }

        $pid = $supervisor->pid;

        $this->sayInfo(Contract::components()
            ? "Sending {$signalName} signal to process: {$pid}"
            : "Sending {$signalName} Signal To Process: {$pid}");

        if (! posix_kill($pid, $signal)) {
            $this->sayError("Failed to send {$signalName} signal to process: {$pid} (".posix_strerror(posix_get_last_error()).')');
        }

        return 0;
    }
}
