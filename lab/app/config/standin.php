<?php

/*
 * The Horizon stand-in's contract: the laravel/horizon release whose command
 * line it answers like (see HORIZON-STANDIN.md and app/Horizon/Contract.php).
 */

return [

    'horizon' => env('HORIZON_STANDIN_VERSION', '5.22.1'),

];
