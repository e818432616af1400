<?php

namespace App\Horizon\Console;

use App\Horizon\Repository;
use Illuminate\Console\Command;

class StatusCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:status';

    protected $description = 'Get the current status of Horizon';

    /**
     * Exit 0 running, 1 paused, 2 inactive (all masters on this Redis).
     */
    public function handle(Repository $repository): int
    {
        $masters = $repository->masters();

        if ($masters === []) {
            $this->componentError('Horizon is inactive.');

            return 2;
        }

        foreach ($masters as $master) {
            if ($master->status === 'paused') {
                $this->componentWarn('Horizon is paused.');

                return 1;
            }
        }

        $this->componentInfo('Horizon is running.');

        return 0;
    }
}
