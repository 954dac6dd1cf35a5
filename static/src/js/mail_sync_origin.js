odoo.define('mail_sync.origin', function (require) {
"use strict";

/**
 * Chatter messages are built by chat_manager.make_message, which keeps only the keys
 * it knows: also keep mail_sync_origin (which synchronized mailboxes the email came
 * from, and why it was tracked), rendered by mail_sync_origin.xml.
 */
var chat_manager = require('mail.chat_manager');

var make_message = chat_manager.make_message;

chat_manager.make_message = function (data) {
    var message = make_message.apply(this, arguments);
    message.mail_sync_origin = data.mail_sync_origin || false;
    return message;
};

});
