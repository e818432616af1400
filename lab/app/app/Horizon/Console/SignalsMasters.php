<?php

namespace App\Horizon\Console;

use App\Horizon\MasterSupervisor;
use App\Horizon\Repository;

/**
 * pause / continue / terminate: signal the masters registered by this
 * machine (Horizon's signals are per machine).
 */
trait SignalsMasters
{
    use RendersComponents;

    /**
     * @return int[] the pids that were signalled successfully
     */
    protected function signalLocalMasters(Repository $repository, int $signal, string $signalName, string $noneMessage): array
    {
        $pids = [];

        foreach ($repository->masters() as $master) {
            if (MasterSupervisor::isOnThisMachine($master->name) && $master->pid > 0) {
                $pids[] = $master->pid;
            }
        }

        if ($pids === []) {
            $this->componentInfo($noneMessage);

            return [];
        }

        $this->componentInfo("Sending {$signalName} signal to processes.");

        $signalled = [];

        foreach ($pids as $pid) {
            $result = true;

            $this->componentTask("Process: {$pid}", function () use ($pid, $signal, &$result) {
                return $result = posix_kill($pid, $signal);
            });

            if ($result) {
                $signalled[] = $pid;
            } else {
                $this->componentError("Failed to kill process: {$pid} (".posix_strerror(posix_get_last_error()).')');
            }
        }

        $this->output->writeln('');

        return $signalled;
    }
}
